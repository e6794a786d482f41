"""Random command sequences against one program: its life cycle and capacity hold.

Commands may be refused (a DomainError); a refused command must change nothing. The
invariants: active enrolments never exceed the capacity; the status only moves forward
(draft, approved, published, archived; archived from any); a program is approved exactly
when every teaching party approved it; an archived program has no active enrolment; and
the recorded events replay to the same program.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.program import ProgramStatus
from domain.values import EventMeta
from tests.unit.program_builders import PARTNER, PROVIDER, draft_program, program_state

ORDER = [
    ProgramStatus.DRAFT,
    ProgramStatus.APPROVED,
    ProgramStatus.PUBLISHED,
    ProgramStatus.ARCHIVED,
]
STRANGER = UUID("00000000-0000-4000-8000-0000000000ff")
CHILDREN = [f"child-{n:04d}" for n in range(8)]
pick = st.integers(min_value=0, max_value=1_000)


class ProgramLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.accepted = 0
        self.refused = 0

    @initialize(
        network=st.booleans(),
        capacity=st.integers(min_value=1, max_value=4),
        published=st.booleans(),
    )
    def start(self, network: bool, capacity: int, published: bool) -> None:
        self.program = p = draft_program(
            self.next_meta(),
            capacity=capacity,
            form="network" if network else "standalone",
            partner_ids=[PARTNER] if network else [],
        )
        if published:
            # Half the runs start published, so enrolments and capacity get most steps.
            for party in p.teaching_parties:
                p.approve(self.next_meta(), party_id=party)
            p.publish(self.next_meta(), agreement_id=uuid4() if network else None)
        self.last_status = p.status

    def next_meta(self) -> EventMeta:
        self.step += 1
        return EventMeta(
            actor_id=f"actor-{self.step}", actor_role="official", correlation_id=f"req-{self.step}"
        )

    def attempt(self, command: Any) -> bool:
        p = self.program
        meta = self.next_meta()
        before = program_state(p)
        pending = len(p.pending_events)
        try:
            command(meta)
        except DomainError:
            self.refused += 1
            assert program_state(p) == before
            return False
        self.accepted += 1
        new = p.pending_events[pending:]
        assert new, "an accepted command records at least one event"
        assert all(e.meta.correlation_id == meta.correlation_id for e in new)  # type: ignore[attr-defined]
        return True

    # -- commands ---------------------------------------------------------------------

    @rule(party=st.sampled_from([PROVIDER, PARTNER, PROVIDER, PARTNER, STRANGER]))
    def approve(self, party: UUID) -> None:
        self.attempt(lambda m: self.program.approve(m, party_id=party))

    @rule(with_agreement=st.booleans())
    def publish(self, with_agreement: bool) -> None:
        agreement_id = uuid4() if with_agreement else None
        self.attempt(lambda m: self.program.publish(m, agreement_id=agreement_id))

    @rule(chance=st.integers(min_value=0, max_value=14))
    def archive(self, chance: int) -> None:
        # Archiving ends the program, so it is tried one time in 15 to let runs go far.
        if chance == 0:
            self.attempt(self.program.archive)

    @rule(capacity=st.integers(min_value=0, max_value=6))
    def change_capacity(self, capacity: int) -> None:
        self.attempt(lambda m: self.program.change_capacity(m, capacity=capacity))

    @rule(
        child=st.sampled_from(CHILDREN),
        birth_year=st.integers(min_value=2010, max_value=2020),
    )
    def enrol(self, child: str, birth_year: int) -> None:
        self.attempt(
            lambda m: self.program.enrol(
                m,
                enrolment_id=uuid4(),
                child_id=child,
                birth_year=birth_year,
                territory="микрорайон Северный",
                funding_source="municipal_assignment",
                start_date=date(2027, 9, 1),
            )
        )

    @rule(index=pick)
    def end_enrolment(self, index: int) -> None:
        p = self.program
        ids = list(p.enrolments)
        # mostly a known enrolment (active or not), sometimes one never seen
        enrolment_id = ids[index % len(ids)] if ids and index % 7 else uuid4()
        self.attempt(
            lambda m: p.end_enrolment(m, enrolment_id=enrolment_id, end_date=date(2028, 5, 31))
        )

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def active_enrolments_never_exceed_the_capacity(self) -> None:
        p = self.program
        active = [e for e in p.enrolments.values() if e.active]
        assert p.active_enrolments == len(active) <= p.capacity
        assert p.capacity >= 1
        # each child holds at most one active place
        assert len({e.child_id for e in active}) == len(active)

    @invariant()
    def the_status_only_moves_forward(self) -> None:
        status = self.program.status
        assert ORDER.index(status) >= ORDER.index(self.last_status)
        self.last_status = status

    @invariant()
    def approved_exactly_when_every_teaching_party_approved(self) -> None:
        p = self.program
        assert p.approvals <= set(p.teaching_parties)
        everyone = p.approvals == set(p.teaching_parties)
        if p.status in (ProgramStatus.APPROVED, ProgramStatus.PUBLISHED):
            assert everyone
        if p.status is ProgramStatus.DRAFT:
            assert not everyone
        if p.status is ProgramStatus.PUBLISHED and p.partner_ids:
            assert p.agreement_id is not None

    @invariant()
    def children_are_enrolled_only_once_published(self) -> None:
        p = self.program
        if p.status in (ProgramStatus.DRAFT, ProgramStatus.APPROVED):
            assert p.enrolments == {}
        if p.status is ProgramStatus.ARCHIVED:
            assert p.active_enrolments == 0

    @invariant()
    def the_pending_events_replay_to_the_same_program(self) -> None:
        p = self.program
        rebuilt: Any = functools.reduce(lambda a, e: e.mutate(a), p.pending_events, None)
        assert rebuilt.version == p.version == len(p.pending_events)
        assert program_state(rebuilt) | {"pending": ()} == program_state(p) | {"pending": ()}


ProgramLifecycle.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestProgramLifecycle = ProgramLifecycle.TestCase
