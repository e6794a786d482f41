"""Working groups on the write side, on a real PostgreSQL: atomic saves and concurrent votes.

A decision and its index entry are one ``save()``: both or neither. Votes racing on one
group each either commit at the next version or are refused as a conflict; none is lost.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import ConcurrencyConflictError, DomainError, NotFoundError, RuleViolationError
from domain.project import Stage
from domain.values import EventMeta
from domain.working_group import DecisionIndex, DecisionTarget, TargetKind, WorkingGroup
from interagency.application import CommandResult, InteragencyApplication
from interagency.idempotency import IdempotencyContext
from interagency.services import Services

META = EventMeta(
    actor_id="secretary-1", actor_role="official", actor_agency="culture", correlation_id="t"
)
# label -> (agency, position, voting)
STAFF = {
    "chair": ("education", "chair", True),
    "secretary": ("culture", "secretary", True),
    "sport": ("sport", "member", True),
    "teacher": ("education", "member", True),
    "doctor": ("health", "member", False),
}
VOTERS = ("chair", "secretary", "sport")


class Board:
    """One staffed interagency group, driven through the application."""

    def __init__(
        self, app: InteragencyApplication, municipality: str, project_id: UUID | None = None
    ) -> None:
        self.app = app
        self.municipality = municipality
        self.id = app.establish_group(
            META,
            kind="interagency",
            name=f"Board {uuid4().hex[:6]}",
            basis_act="Order No. 7",
            municipality=municipality,
            project_id=project_id,
        ).aggregate_id
        self.members: dict[str, UUID] = {}
        for label, (agency, position, voting) in STAFF.items():
            self.members[label] = uuid4()
            app.appoint_member(
                META,
                self.id,
                member_id=self.members[label],
                person=f"Person {label}",
                organization=f"Office of {agency}",
                agency=agency,
                position=position,
                voting=voting,
                appointed_on=date(2027, 1, 15),
            )

    def meeting(self, agenda: int = 2, held_on: date = date(2027, 2, 3)) -> UUID:
        """A meeting with ``agenda`` items, attended by three voting members."""
        mid = uuid4()
        self.app.schedule_meeting(
            META,
            self.id,
            meeting_id=mid,
            held_on=held_on,
            agenda=[f"Item {n}" for n in range(agenda)],
        )
        self.app.record_attendance(
            META, self.id, mid, present=[self.members[label] for label in (*VOTERS, "doctor")]
        )
        return mid

    def vote(self, mid: UUID, agenda_item: str = "1", motion_id: UUID | None = None) -> UUID:
        motion_id = motion_id or uuid4()
        self.app.vote_on_motion(
            META,
            self.id,
            mid,
            motion_id=motion_id,
            agenda_item=agenda_item,
            text=f"Motion on item {agenda_item}",
            votes={self.members[label]: "for" for label in VOTERS},
        )
        return motion_id

    def decide(
        self,
        mid: UUID,
        motion_id: UUID,
        decision_id: UUID | None = None,
        targets: list[DecisionTarget] | None = None,
        **kwargs: Any,
    ) -> CommandResult:
        return self.app.record_decision(
            META,
            self.id,
            mid,
            decision_id=decision_id or uuid4(),
            protocol_number="1",
            text="Decided",
            motion_id=motion_id,
            mechanism="working_groups",
            targets=targets,
            **kwargs,
        )

    @property
    def group(self) -> WorkingGroup:
        return self.app.get_group(self.id)


def town() -> str:
    return f"Town {uuid4().hex[:10]}"


def start_project(app: InteragencyApplication, municipality: str) -> UUID:
    return app.initiate_project(
        META,
        title="School and library",
        goal="Reading clubs",
        municipality=municipality,
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id


def written_since(app: InteragencyApplication, head: int) -> list[tuple[int, UUID]]:
    """(position, originator) of every event recorded after ``head``, in order."""
    return [(n.id, n.originator_id) for n in app.pg_recorder.select_notifications(head + 1, 1000)]


# -- a decision and its index: one save -------------------------------------------------


def test_a_decision_and_its_index_are_written_together_and_the_group_is_found_at_once(
    services: Services,
) -> None:
    app = services.app
    board = Board(app, town())
    mid = board.meeting()
    motion_id = board.vote(mid)
    decision_id = uuid4()
    head = app.head_position()

    result = board.decide(mid, motion_id, decision_id)

    written = written_since(app, head)
    assert [originator for _, originator in written] == [
        DecisionIndex.id_for(decision_id),
        board.id,
    ]
    # One transaction: the two positions follow each other, and the answer is the group's
    # event, saved last, so a reader waiting for it also sees the index entry.
    (p1, _), (p2, _) = written
    assert p2 == p1 + 1
    assert result.position == p2
    assert result.version == board.group.version
    found = app.group_of_decision(decision_id)
    assert found.id == board.id
    assert found.decisions[decision_id].motion_id == motion_id


def refusals(app: InteragencyApplication) -> dict[str, dict[str, Any]]:
    """Each way to have a decision refused, by the rule it breaks."""
    neighbour = start_project(app, town())
    return {
        "decision_on_voted_motion": {"motion_id": uuid4()},
        "decision_target_in_scope": {
            "targets": [
                DecisionTarget(TargetKind.PROJECT_GATE, neighbour, Stage.SOCIAL_TIES_PROGRAM)
            ]
        },
        "referenced_project_exists": {
            "targets": [DecisionTarget(TargetKind.PROJECT_GATE, uuid4())]
        },
        "correction_of_known_decision": {"corrects": uuid4()},
        "meeting_exists": {"mid": uuid4()},
    }


def test_a_refused_decision_writes_neither_the_decision_nor_its_index(
    services: Services,
) -> None:
    app = services.app
    board = Board(app, town())
    mid = board.meeting()
    motion_id = board.vote(mid)
    version = board.group.version

    for rule, change in refusals(app).items():
        decision_id = uuid4()
        args: dict[str, Any] = {"mid": mid, "motion_id": motion_id, **change}
        head = app.head_position()
        with pytest.raises(RuleViolationError) as caught:
            board.decide(args.pop("mid"), args.pop("motion_id"), decision_id, **args)
        assert caught.value.rule == rule
        assert app.head_position() == head, rule
        with pytest.raises(NotFoundError):
            app.group_of_decision(decision_id)
    assert board.group.version == version
    assert board.group.decisions == {}


def test_a_decision_id_indexed_by_one_group_cannot_be_taken_by_another_and_leaves_it_as_it_was(
    services: Services,
) -> None:
    app = services.app
    first, second = Board(app, town()), Board(app, town())
    m1, m2 = first.meeting(), second.meeting()
    decision_id = uuid4()
    first.decide(m1, first.vote(m1), decision_id)
    motion_id = second.vote(m2)
    version = second.group.version
    head = app.head_position()

    # The group's event is valid on its own; the index entry's clash undoes it too.
    with pytest.raises(ConcurrencyConflictError):
        second.decide(m2, motion_id, decision_id)

    assert app.head_position() == head
    assert second.group.version == version
    assert second.group.decisions == {}
    assert app.group_of_decision(decision_id).id == first.id


def test_a_replayed_decision_answers_the_first_write_and_indexes_once(
    services: Services,
) -> None:
    app = services.app
    board = Board(app, town())
    mid = board.meeting()
    motion_id = board.vote(mid)
    decision_id = uuid4()
    key = IdempotencyContext(key=f"decide-{uuid4().hex}", fingerprint="same request")

    first = board.decide(mid, motion_id, decision_id, idempotency=key)
    head = app.head_position()
    second = board.decide(mid, motion_id, decision_id, idempotency=key)

    assert second.replayed is True
    assert (second.aggregate_id, second.version, second.position) == (
        first.aggregate_id,
        first.version,
        first.position,
    )
    assert app.head_position() == head
    index = app.history(DecisionIndex.id_for(decision_id))
    assert [e.version for e in index] == [1]


def test_a_gate_checked_against_a_decision_right_after_it_is_signed_passes(
    services: Services,
) -> None:
    app = services.app
    municipality = town()
    pid = start_project(app, municipality)
    board = Board(app, municipality)
    mid = board.meeting()
    decision_id = uuid4()
    board.decide(
        mid,
        board.vote(mid),
        decision_id,
        targets=[DecisionTarget(TargetKind.PROJECT_GATE, pid, Stage.SOCIAL_TIES_PROGRAM)],
    )
    with pytest.raises(RuleViolationError, match="not signed"):
        app.pass_gate(META, pid, reason="Decided", decision_id=decision_id)

    app.sign_protocol(META, board.id, mid, protocol_number="1")
    result = app.pass_gate(META, pid, reason="Decided", decision_id=decision_id)

    passed = app.history(pid)[-1].event
    assert type(passed).__name__ == "StageGatePassed"
    assert passed.decision_id == decision_id  # type: ignore[attr-defined]
    assert passed.meta.decision_ref == str(decision_id)
    assert result.version == 2


# -- concurrent votes ----------------------------------------------------------------------


THREADS = 8


def test_concurrent_votes_on_one_group_never_lose_an_update(services: Services) -> None:
    app = services.app
    board = Board(app, town())
    mid = board.meeting(agenda=THREADS)
    start = board.group.version
    barrier = threading.Barrier(THREADS, timeout=30)
    refusals: list[DomainError] = []
    lock = threading.Lock()

    def vote(i: int) -> tuple[UUID, CommandResult]:
        motion_id = uuid4()
        barrier.wait()
        # Every conflict is retried on fresh state: all votes must get in, none twice.
        for _ in range(100):
            try:
                result = app.vote_on_motion(
                    META,
                    board.id,
                    mid,
                    motion_id=motion_id,
                    agenda_item=str(i + 1),
                    text=f"Motion {i}",
                    votes={board.members[label]: "for" for label in VOTERS},
                )
            except ConcurrencyConflictError as exc:
                with lock:
                    refusals.append(exc)
            else:
                return motion_id, result
        msg = f"vote {i} never got in"
        raise AssertionError(msg)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(vote, range(THREADS)))

    # Each success is in the history, at the version and position it answered.
    history = app.history(board.id)
    assert [e.version for e in history] == list(range(1, start + THREADS + 1))
    voted = {e.event.motion_id: e for e in history if isinstance(e.event, WorkingGroup.MotionVoted)}
    assert len(voted) == THREADS
    for motion_id, result in outcomes:
        entry = voted[motion_id]
        assert (entry.version, entry.position) == (result.version, result.position)
    assert sorted(r.version for _, r in outcomes) == list(range(start + 1, start + THREADS + 1))
    meeting = board.group.meetings[mid]
    assert set(meeting.motions) == {m for m, _ in outcomes}
    assert all(isinstance(r, ConcurrencyConflictError) for r in refusals)


def test_votes_racing_once_each_either_commit_or_are_refused_as_conflicts(
    services: Services,
) -> None:
    app = services.app
    board = Board(app, town())
    mid = board.meeting(agenda=THREADS)
    start = board.group.version
    barrier = threading.Barrier(THREADS, timeout=30)

    def vote(i: int) -> CommandResult | DomainError:
        barrier.wait()
        try:
            return app.vote_on_motion(
                META,
                board.id,
                mid,
                motion_id=uuid4(),
                agenda_item=str(i + 1),
                text=f"Motion {i}",
                votes={board.members[label]: "for" for label in VOTERS},
            )
        except DomainError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(vote, range(THREADS)))

    accepted = [o for o in outcomes if isinstance(o, CommandResult)]
    refused = [o for o in outcomes if not isinstance(o, CommandResult)]
    assert accepted
    assert all(isinstance(r, ConcurrencyConflictError) for r in refused)
    # The accepted votes are exactly the group's new versions: contiguous, none lost.
    assert sorted(r.version for r in accepted) == list(range(start + 1, start + len(accepted) + 1))
    history = app.history(board.id)
    assert [e.version for e in history] == list(range(1, start + len(accepted) + 1))
    positions = {e.version: e.position for e in history}
    assert all(positions[r.version] == r.position for r in accepted)
    assert len(board.group.meetings[mid].motions) == len(accepted)
