"""The audit log's checked query, and provenance: why an authorised change happened.

``read_log`` pages through the ``audit`` projection after refusing what can never match.
The projection module (``projections/audit.py``) explains why the log is a projection
rather than a scan of the events table, and why its cursor pages have no gaps and no
duplicates while writes go on.

Provenance is assembled from the write model.

Three kinds of change are authorised by working-group decisions: a project's stage
transition (``StageGatePassed``), a deliverable's approval (``DeliverableApproved``) and a
redistribution of municipal assignments (``RedistributionRecorded``). For each, the answer
names the change itself (its event, position and time), who made it and on what stated
grounds (reason, basis document, correlation id), and the decision it cited: the decision's
text, the vote on its motion (totals and each member's vote), the protocol, the group and
the members present at the meeting.

Everything is read from the events themselves (the aggregates' histories), never from a
projection, so the answer is as of the moment it is asked and never lags. The decision is
shown as the group's state stood when the change was made (the state the command's
authority check saw), and ``superseded_by`` as it stands now: a decision corrected later
was still in force when it was cited, because the command checks that on write.

A decision is optional for these commands; a change made without one answers
``decision = None`` with a note saying so (and quoting a free-text ``decision_ref`` if the
actor gave one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.assignment import Redistribution
from domain.base import DomainAggregate, event_type_name
from domain.errors import NotFoundError, ValidationError
from domain.project import InteragencyProject, Stage
from domain.working_group import VoteChoice
from interagency.application import InteragencyApplication
from interagency.pipeline import HistoryEntry
from projections.audit import (
    AuditFilter,
    AuditPage,
    AuditView,
    aggregate_type_of,
    event_data,
    known_aggregate_types,
)

P = InteragencyProject


class ChangeKind(StrEnum):
    STAGE_TRANSITION = "stage_transition"
    DELIVERABLE_APPROVAL = "deliverable_approval"
    REDISTRIBUTION = "redistribution"


@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    agency: str | None


@dataclass(frozen=True)
class Change:
    """The authorised change: one event of the log."""

    kind: ChangeKind
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    version: int
    position: int
    time: datetime
    actor: Actor
    reason: str | None
    basis_document: str | None
    decision_ref: str | None
    correlation_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class MemberRef:
    member_id: UUID
    person: str
    organization: str
    agency: str
    position: str
    voting: bool
    # Dismissed before the change was made (None: still a member then).
    dismissed_on: date | None


@dataclass(frozen=True)
class PresentMember:
    member: MemberRef
    # The member's vote on the decision's motion; None when they did not vote on it.
    vote: str | None


@dataclass(frozen=True)
class VoteTally:
    motion_id: UUID
    motion_text: str
    votes_for: int
    votes_against: int
    abstentions: int
    voting_members: int
    present_voting: int
    quorum_needed: int
    majority_rule: str
    adopted: bool
    # Each member's vote, in the order the members were appointed.
    votes: list[tuple[MemberRef, str]]


@dataclass(frozen=True)
class GroupRef:
    group_id: UUID
    name: str
    kind: str
    basis_act: str
    municipality: str
    project_id: UUID | None


@dataclass(frozen=True)
class MeetingRef:
    meeting_id: UUID
    held_on: date
    agenda_item: str
    agenda_title: str | None
    protocol_number: str | None
    signed_at: datetime | None
    signed_by: list[MemberRef]
    present: list[PresentMember]


@dataclass(frozen=True)
class DecisionProvenance:
    decision_id: UUID
    text: str
    mechanism: str
    targets: list[dict[str, Any]]
    protocol_number: str
    adopted: bool
    # The date of the meeting that voted it.
    adopted_on: date
    recorded_at: datetime
    corrects: UUID | None
    # As it stands now: a later decision that corrected this one, if any.
    superseded_by: UUID | None
    votes: VoteTally
    group: GroupRef
    meeting: MeetingRef


@dataclass(frozen=True)
class Provenance:
    change: Change
    decision: DecisionProvenance | None
    note: str | None


# -- the log ------------------------------------------------------------------------------

MAX_PAGE = 500


def read_log(view: AuditView, f: AuditFilter, *, after: int, limit: int) -> AuditPage:
    """One page of the audit log after the cursor ``after`` (see ``projections.audit``).

    Refuses, naming the field, what can never match: an unknown aggregate type (a typo
    would otherwise read as "no such events"), an empty or inverted time range, a cursor
    below zero, a page size outside 1..500.
    """
    if after < 0:
        raise ValidationError("after: a cursor is a position in the log, 0 or more", field="after")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: a page holds 1 to {MAX_PAGE} events", field="limit")
    known = known_aggregate_types()
    unknown = [t for t in f.aggregate_types if t not in known]
    if unknown:
        raise ValidationError(
            f"aggregate_type: unknown type {', '.join(unknown)}; known: {', '.join(known)}",
            field="aggregate_type",
        )
    for name, value in (("from", f.time_from), ("to", f.time_to)):
        if value is not None and value.tzinfo is None:
            raise ValidationError(
                f"{name}: a time needs its UTC offset (e.g. 2027-02-01T00:00:00Z)", field=name
            )
    if f.time_from is not None and f.time_to is not None and f.time_from >= f.time_to:
        raise ValidationError(
            "from/to: the time range is empty; 'from' (inclusive) must come before 'to' "
            "(exclusive)",
            field="to",
        )
    return view.page(f, after=after, limit=limit)


# -- the three kinds of change ----------------------------------------------------------


def stage_transition(app: InteragencyApplication, project_id: UUID, stage: Stage) -> Provenance:
    """Why the project left ``stage``: its ``StageGatePassed`` and the decision it cited."""
    entries = _history_of(app, project_id, P.ProjectInitiated, "project")
    entry = _last(
        e
        for e in entries
        if isinstance(e.event, P.StageGatePassed) and e.event.stage == stage.value
    )
    if entry is None:
        raise NotFoundError(
            f"project {project_id} has not passed the gate of stage {stage.number} "
            f"({stage.value}): there is no such transition to explain",
            id=str(project_id),
            stage=stage.value,
        )
    assert isinstance(entry.event, P.StageGatePassed)
    return _provenance(app, ChangeKind.STAGE_TRANSITION, entry, entry.event.decision_id)


def deliverable_approval(
    app: InteragencyApplication, project_id: UUID, deliverable_id: UUID
) -> Provenance:
    """Why the deliverable was approved: its latest ``DeliverableApproved``."""
    entries = _history_of(app, project_id, P.ProjectInitiated, "project")
    planned = any(
        isinstance(e.event, P.DeliverablePlanned) and e.event.deliverable_id == deliverable_id
        for e in entries
    )
    if not planned:
        raise NotFoundError(
            f"project {project_id} has no deliverable {deliverable_id}",
            id=str(deliverable_id),
        )
    entry = _last(
        e
        for e in entries
        if isinstance(e.event, P.DeliverableApproved) and e.event.deliverable_id == deliverable_id
    )
    if entry is None:
        raise NotFoundError(
            f"deliverable {deliverable_id} of project {project_id} has not been approved: "
            "there is no approval to explain",
            id=str(deliverable_id),
        )
    assert isinstance(entry.event, P.DeliverableApproved)
    return _provenance(app, ChangeKind.DELIVERABLE_APPROVAL, entry, entry.event.decision_id)


def redistribution(app: InteragencyApplication, redistribution_id: UUID) -> Provenance:
    """Why volume moved between assignments: the redistribution's record."""
    entries = _history_of(
        app, redistribution_id, Redistribution.RedistributionRecorded, "redistribution"
    )
    entry = entries[0]
    assert isinstance(entry.event, Redistribution.RedistributionRecorded)
    return _provenance(app, ChangeKind.REDISTRIBUTION, entry, entry.event.decision_id)


# -- assembly ---------------------------------------------------------------------------


def _history_of(
    app: InteragencyApplication, aggregate_id: UUID, created: type[Any], label: str
) -> list[HistoryEntry]:
    try:
        entries = app.history(aggregate_id)
    except NotFoundError:
        entries = []
    if not entries or not isinstance(entries[0].event, created):
        raise NotFoundError(f"no {label} with id {aggregate_id}", id=str(aggregate_id))
    return entries


def _last(entries: Any) -> HistoryEntry | None:
    found = None
    for e in entries:
        found = e
    return found


def _change(kind: ChangeKind, entry: HistoryEntry) -> Change:
    e: DomainAggregate.Event = entry.event
    m = e.meta
    return Change(
        kind=kind,
        aggregate_type=aggregate_type_of(get_topic(type(e))),
        aggregate_id=e.originator_id,
        event_type=event_type_name(e),
        version=entry.version,
        position=entry.position,
        time=e.timestamp,
        actor=Actor(m.actor_id, m.actor_role, m.actor_agency),
        reason=m.reason,
        basis_document=m.basis_document,
        decision_ref=m.decision_ref,
        correlation_id=m.correlation_id,
        data=event_data(e),
    )


def _provenance(
    app: InteragencyApplication, kind: ChangeKind, entry: HistoryEntry, decision_id: UUID | None
) -> Provenance:
    change = _change(kind, entry)
    if decision_id is None:
        if change.decision_ref:
            note = (
                "no recorded working-group decision authorised this change: it cites "
                f"{change.decision_ref!r} by reference only (a decision id is optional for "
                "this command), so its grounds are the actor's reason and basis document"
            )
        else:
            note = (
                "no working-group decision authorised this change: a decision is optional "
                "for this command and none was cited, so its grounds are the actor's reason "
                "and basis document"
            )
        return Provenance(change, None, note)
    decision = _decision(app, decision_id, before=entry.position)
    if decision is None:
        return Provenance(
            change,
            None,
            f"the change cites decision {decision_id}, which is not in the decisions "
            "register: it cannot be explained further",
        )
    later: str | None = None
    if decision.superseded_by is not None:
        later = (
            f"decision {decision_id} was corrected later by decision {decision.superseded_by}; "
            "it was in force when the change was made (checked when the change was written)"
        )
    return Provenance(change, decision, later)


def _decision(
    app: InteragencyApplication, decision_id: UUID, *, before: int
) -> DecisionProvenance | None:
    try:
        now = app.group_of_decision(decision_id)
    except NotFoundError:
        return None
    # The group as it stood when the change was written: its last event before it.
    versions = [h.version for h in app.history(now.id) if h.position < before]
    then = app.get_group(now.id, version=max(versions)) if versions else now
    d = then.decisions.get(decision_id) or now.decisions.get(decision_id)
    if d is None:
        return None
    group = then if decision_id in then.decisions else now
    meeting = group.meetings[d.meeting_id]
    motion = meeting.motions[d.motion_id]

    def ref(member_id: UUID) -> MemberRef:
        m = group.members[member_id]
        return MemberRef(
            member_id=m.id,
            person=m.person,
            organization=m.organization,
            agency=m.agency.value,
            position=m.position.value,
            voting=m.voting,
            dismissed_on=m.dismissed_on,
        )

    appointed = list(group.members)
    present = sorted(meeting.present, key=appointed.index)
    choices = list(motion.votes.values())
    current = now.decisions.get(decision_id)
    return DecisionProvenance(
        decision_id=d.id,
        text=d.text,
        mechanism=d.mechanism.value,
        targets=[t.as_dict() for t in d.targets],
        protocol_number=d.protocol_number,
        adopted=d.adopted,
        adopted_on=meeting.held_on,
        recorded_at=d.recorded_at,
        corrects=d.corrects,
        superseded_by=None if current is None else current.superseded_by,
        votes=VoteTally(
            motion_id=motion.id,
            motion_text=motion.text,
            votes_for=choices.count(VoteChoice.FOR),
            votes_against=choices.count(VoteChoice.AGAINST),
            abstentions=choices.count(VoteChoice.ABSTAIN),
            voting_members=motion.voting_members,
            present_voting=motion.present_voting,
            quorum_needed=motion.quorum_needed,
            majority_rule=group.majority_rule.value,
            adopted=motion.adopted,
            votes=[
                (ref(mid), motion.votes[mid].value)
                for mid in sorted(motion.votes, key=appointed.index)
            ],
        ),
        group=GroupRef(
            group_id=group.id,
            name=group.name,
            kind=group.kind.value,
            basis_act=group.basis_act,
            municipality=group.municipality,
            project_id=group.project_id,
        ),
        meeting=MeetingRef(
            meeting_id=meeting.id,
            held_on=meeting.held_on,
            agenda_item=d.agenda_item,
            agenda_title=meeting.agenda.get(d.agenda_item),
            protocol_number=meeting.protocol_number,
            signed_at=meeting.signed_at,
            signed_by=[ref(mid) for mid in meeting.signed_by],
            present=[
                PresentMember(
                    ref(mid), None if mid not in motion.votes else motion.votes[mid].value
                )
                for mid in present
            ],
        ),
    )


__all__ = [
    "AuditFilter",
    "AuditPage",
    "ChangeKind",
    "Provenance",
    "deliverable_approval",
    "read_log",
    "redistribution",
    "stage_transition",
]
