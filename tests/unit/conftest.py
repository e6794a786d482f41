"""Builders for the domain tier: pure aggregates, no database, no application.

The helpers are plain functions so the state machine (which cannot take fixtures) can
import them too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from domain.errors import DomainError, RuleViolationError
from domain.project import STAGES, InteragencyProject, Stage
from domain.values import EventMeta
from domain.working_group import DecisionTarget, Meeting, WorkingGroup
from interagency.application import InteragencyApplication

META = EventMeta(
    actor_id="official-1",
    actor_role="official",
    actor_agency="education",
    correlation_id="req-0001",
)
BASIS = {"decision_ref": "Протокол №1", "basis_document": "Приказ №12"}


def initiate(meta: EventMeta = META, **overrides: Any) -> InteragencyProject:
    """A valid project of education and sport, led by education."""
    kwargs: dict[str, Any] = {
        "project_id": uuid4(),
        "title": "Сетевая программа «Техноквантум»",
        "goal": "Raise coverage of technical programs",
        "municipality": "Городской округ N",
        "lead_agency": "education",
        "agencies": ["education", "sport"],
    }
    kwargs.update(overrides)
    return InteragencyProject.initiate(meta, **kwargs)


def plan(
    p: InteragencyProject,
    *,
    stage: Stage | str | None = None,
    mandatory: bool = True,
    title: str = "Программа расширения социальных связей",
    mechanism: str = "working_groups",
    meta: EventMeta = META,
) -> UUID:
    """Plans a deliverable (in the active stage unless told) and returns its id."""
    target = stage if stage is not None else p.active_stage
    assert target is not None
    deliverable_id = uuid4()
    p.plan_deliverable(
        meta,
        deliverable_id=deliverable_id,
        stage=str(target),
        title=title,
        mechanism=mechanism,
        mandatory=mandatory,
    )
    return deliverable_id


def approve(p: InteragencyProject, deliverable_id: UUID, meta: EventMeta = META) -> None:
    p.submit_deliverable(meta, deliverable_id=deliverable_id, document_ref="doc-1")
    p.approve_deliverable(meta, deliverable_id=deliverable_id)


def pass_stage(p: InteragencyProject, meta: EventMeta = META) -> None:
    """Plans, submits and approves one mandatory deliverable, then passes the gate."""
    approve(p, plan(p, meta=meta), meta)
    p.pass_gate(meta, reason="Этап выполнен", **BASIS)


def completed_project(meta: EventMeta = META) -> InteragencyProject:
    p = initiate(meta)
    for _ in STAGES:
        pass_stage(p, meta)
    return p


def state_of(p: InteragencyProject) -> dict[str, Any]:
    """A snapshot of everything a command may change.

    Stages and deliverables are mutable dataclasses: their full ``repr`` is the cheap copy.
    Events are immutable, so the pending ones are kept as they are.
    """
    return {
        "status": p.status,
        "active_stage": p.active_stage,
        "stages": repr(p.stages),
        "deliverables": repr(p.deliverables),
        "version": p.version,
        "pending": tuple(p.pending_events),
    }


def copy_meeting(m: Meeting) -> Meeting:
    """A copy of a meeting that shares nothing mutable with it (cheaper than deepcopy)."""
    c = copy.copy(m)
    c.agenda = dict(m.agenda)
    c.present = set(m.present)
    c.signed_by = list(m.signed_by)
    c.decisions = list(m.decisions)
    c.motions = {}
    for k, motion in m.motions.items():
        c.motions[k] = copy.copy(motion)
        c.motions[k].votes = dict(motion.votes)
    return c


def group_state_of(g: WorkingGroup) -> dict[str, Any]:
    """A snapshot of everything a command may change on a working group.

    Members, meetings (with sets of attendees), decisions and action items are mutable
    dataclasses: their copies compare field by field, sets included.
    """
    decisions = {}
    for k, d in g.decisions.items():
        decisions[k] = copy.copy(d)
        decisions[k].targets = list(d.targets)
    return {
        "status": g.status,
        "members": {k: copy.copy(m) for k, m in g.members.items()},
        "meetings": {k: copy_meeting(m) for k, m in g.meetings.items()},
        "decisions": decisions,
        "action_items": {k: copy.copy(i) for k, i in g.action_items.items()},
        "version": g.version,
        "pending": tuple(g.pending_events),
    }


def snapshot(aggregate: InteragencyProject | WorkingGroup) -> dict[str, Any]:
    if isinstance(aggregate, WorkingGroup):
        return group_state_of(aggregate)
    return state_of(aggregate)


def assert_refused(
    p: InteragencyProject | WorkingGroup,
    command: Callable[[], object],
    error: type[DomainError],
    *,
    rule: str | None = None,
    field: str | None = None,
) -> DomainError:
    """Runs a command that must be refused and checks that it changed nothing."""
    version, pending, before = p.version, len(p.pending_events), snapshot(p)
    with pytest.raises(error) as caught:
        command()
    assert p.version == version
    assert len(p.pending_events) == pending
    assert snapshot(p) == before
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
        assert caught.value.extra["rule"] == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def event_names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


# -- working groups -------------------------------------------------------------------

DAY = date(2027, 1, 15)
MUNICIPALITY = "Городской округ N"  # the municipality of the projects ``initiate`` makes
AGENDA = ["О выполнении первого этапа проекта", "Разное"]


def establish(meta: EventMeta = META, **overrides: Any) -> WorkingGroup:
    """An interagency group of the projects' municipality, default quorum and majority."""
    kwargs: dict[str, Any] = {
        "group_id": uuid4(),
        "kind": "interagency",
        "name": "Межведомственная рабочая группа",
        "basis_act": "Постановление администрации № 215",
        "municipality": MUNICIPALITY,
    }
    kwargs.update(overrides)
    return WorkingGroup.establish(meta, **kwargs)


def appoint(
    g: WorkingGroup,
    *,
    position: str = "member",
    agency: str = "culture",
    voting: bool = True,
    appointed_on: date = DAY,
    person: str | None = None,
    meta: EventMeta = META,
) -> UUID:
    """Appoints a new member and returns their id."""
    member_id = uuid4()
    g.appoint_member(
        meta,
        member_id=member_id,
        person=person or f"Член группы {len(g.members) + 1}",
        organization="Отдел культуры",
        agency=agency,
        position=position,
        voting=voting,
        appointed_on=appointed_on,
    )
    return member_id


def staffed(members: int = 3, **overrides: Any) -> tuple[WorkingGroup, list[UUID]]:
    """A group with a chair (education), a secretary (sport) and ``members`` more voting
    members (culture): ids in that order. Its events are already collected."""
    g = establish(**overrides)
    ids = [
        appoint(g, position="chair", agency="education"),
        appoint(g, position="secretary", agency="sport"),
    ]
    ids += [appoint(g) for _ in range(members)]
    g.collect_events()
    return g, ids


def meeting(
    g: WorkingGroup,
    present: Sequence[UUID] | None = None,
    *,
    held_on: date = DAY,
    meta: EventMeta = META,
) -> UUID:
    """Schedules a meeting and records its attendance (every current member unless told)."""
    meeting_id = uuid4()
    g.schedule_meeting(meta, meeting_id=meeting_id, held_on=held_on, agenda=AGENDA)
    attendees = [m.id for m in g.current_members()] if present is None else list(present)
    g.record_attendance(meta, meeting_id=meeting_id, present=attendees)
    return meeting_id


def vote(
    g: WorkingGroup,
    meeting_id: UUID,
    votes: dict[UUID, str] | None = None,
    *,
    meta: EventMeta = META,
) -> UUID:
    """Votes a motion on agenda item 1 (everyone present and voting votes for unless told)."""
    if votes is None:
        present = g.meetings[meeting_id].present
        votes = {m.id: "for" for m in g.current_members() if m.voting and m.id in present}
    motion_id = uuid4()
    g.vote_on_motion(
        meta,
        meeting_id=meeting_id,
        motion_id=motion_id,
        agenda_item="1",
        text="Признать первый этап выполненным",
        votes=votes,
    )
    return motion_id


def decide(
    g: WorkingGroup,
    meeting_id: UUID,
    motion_id: UUID,
    *,
    protocol_number: str | None = None,
    targets: list[DecisionTarget] | None = None,
    corrects: UUID | None = None,
    meta: EventMeta = META,
) -> UUID:
    """Records the protocol's decision on a voted motion and returns its id.

    Without a protocol number, it takes the meeting's, or the group's next free one.
    """
    if protocol_number is None:
        protocol_number = g.meetings[meeting_id].protocol_number or next_protocol_number(g)
    decision_id = uuid4()
    g.record_decision(
        meta,
        decision_id=decision_id,
        meeting_id=meeting_id,
        protocol_number=protocol_number,
        text="Первый этап выполнен; перейти ко второму",
        motion_id=motion_id,
        mechanism="working_groups",
        targets=targets,
        corrects=corrects,
    )
    return decision_id


def next_protocol_number(g: WorkingGroup) -> str:
    """A protocol number no meeting of the group uses yet (numbers are unique in a group)."""
    used = {m.protocol_number for m in g.meetings.values()}
    return next(f"{n}/2027" for n in range(1, len(used) + 2) if f"{n}/2027" not in used)


def signed_decision(
    g: WorkingGroup,
    *,
    targets: list[DecisionTarget] | None = None,
    corrects: UUID | None = None,
    protocol_number: str | None = None,
    against: bool = False,
) -> UUID:
    """One meeting of the whole group: a vote (for, or against), its decision, signed."""
    meeting_id = meeting(g)
    protocol_number = protocol_number or next_protocol_number(g)
    choice = "against" if against else "for"
    present = g.meetings[meeting_id].present
    motion_id = vote(
        g, meeting_id, {m.id: choice for m in g.current_members() if m.voting and m.id in present}
    )
    decision_id = decide(
        g,
        meeting_id,
        motion_id,
        protocol_number=protocol_number,
        targets=targets,
        corrects=corrects,
    )
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number=protocol_number)
    return decision_id


@pytest.fixture(scope="session")
def mapper() -> Mapper[Any]:
    """The application's transcodings on an in-memory application: no database."""
    app = InteragencyApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    transcoder = JSONTranscoder()
    app.register_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


@pytest.fixture
def group() -> tuple[WorkingGroup, list[UUID]]:
    """A staffed interagency group: chair, secretary and three members, all voting."""
    return staffed()


@pytest.fixture
def project() -> InteragencyProject:
    """A freshly initiated project whose ProjectInitiated event is already collected."""
    p = initiate()
    p.collect_events()
    return p
