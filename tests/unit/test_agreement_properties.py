"""Random command sequences against one network agreement: its rules hold after every step.

Commands get random arguments (parties that are and are not parties, versions that are
and are not pending, terms valid and invalid, licences present and missing, dates before
and after the term). A refused command (a DomainError) must change nothing; an accepted
one records events carrying its meta. After every step: a version signed by anyone has
the terms it had when first signed, a superseded version never changes again, closed is
final, and what is in force was signed by everyone who had to sign it, with every teaching
party licensed.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.agreement import (
    CLOSED,
    IN_FORCE,
    AgreementStatus,
    NetworkAgreement,
    VersionState,
)
from domain.errors import DomainError
from domain.values import EventMeta
from tests.unit.test_agreement import (
    CENTRE,
    CLAUSES,
    END,
    KINDS,
    MUSEUM,
    OTHER_PROGRAM,
    PLANT,
    PROGRAM,
    SCHOOL,
    agreement_state,
    contribution,
    draft,
    terms,
)

PARTIES = [SCHOOL, CENTRE, MUSEUM, PLANT]


def _party(org: UUID, role: str) -> dict[str, str]:
    return {"organization_id": str(org), "role": role}


TERMS_POOL: list[dict[str, Any]] = [
    terms(),
    terms(model="model_1", program_ids=[str(PROGRAM), str(OTHER_PROGRAM)]),
    terms(clauses={k: v for k, v in CLAUSES.items() if k != "term_and_change"}),
    terms(term_end="2029-06-30"),
    # the plant joins as a participant (teaching: needs a licence)
    terms(
        parties=[
            _party(SCHOOL, "base"),
            _party(CENTRE, "participant"),
            _party(PLANT, "participant"),
        ],
        contributions=[contribution(organization_id=str(PLANT))],
    ),
    # invalid: one party; a contribution by a non-party; outside the term
    terms(parties=[_party(SCHOOL, "base")], contributions=[]),
    terms(contributions=[contribution(organization_id=str(uuid4()))]),
    terms(contributions=[contribution(period_to="2031-01-01")]),
]

parties = st.sampled_from(PARTIES)
versions = st.one_of(st.none(), st.integers(min_value=1, max_value=4))
terms_choice = st.sampled_from(range(len(TERMS_POOL)))
# mostly the two teachers of the usual terms; sometimes too few, sometimes the plant too
licensed_sets = st.one_of(
    st.sampled_from([{SCHOOL, CENTRE}, {SCHOOL, CENTRE, PLANT}, set(PARTIES)]), st.sets(parties)
)
# termination and expiry end the story: tried in one step out of four
rarely = st.integers(min_value=0, max_value=3).map(lambda n: n == 0)
days = st.integers(min_value=-400, max_value=800).map(lambda n: END + timedelta(days=n))


class AgreementLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        # the terms of each version as they were when first signed (every version that
        # ever took effect was signed, so this covers the superseded ones too)
        self.frozen: dict[int, dict[str, Any]] = {}
        self.closed_state: dict[str, Any] | None = None

    @initialize(choice=terms_choice)
    def start(self, choice: int) -> None:
        try:
            self.agreement = draft(self.next_meta(), terms=TERMS_POOL[choice])
        except DomainError:
            self.agreement = draft(self.next_meta())
        self.agreement.collect_events()

    # -- helpers ----------------------------------------------------------------------

    def next_meta(self) -> EventMeta:
        self.step += 1
        return EventMeta(actor_id=f"official-{self.step}", actor_role="official")

    def attempt(self, command: Any) -> list[Any]:
        """Runs a command: refused, it changed nothing; accepted, its events carry its meta."""
        a = self.agreement
        meta = self.next_meta()
        before = agreement_state(a)
        try:
            command(meta)
        except DomainError:
            assert agreement_state(a) == before
            return []
        events = list(a.collect_events())
        assert events
        for e in events:
            assert e.meta.actor_id == meta.actor_id
        return events

    # -- commands ---------------------------------------------------------------------

    @rule(choice=terms_choice)
    def revise(self, choice: int) -> None:
        self.attempt(
            lambda m: self.agreement.revise_draft(m, terms=TERMS_POOL[choice], party_kinds=KINDS)
        )

    @rule(party=parties, version=versions)
    def sign(self, party: UUID, version: int | None) -> None:
        pending = self.agreement.pending_version
        events = self.attempt(
            lambda m: self.agreement.sign(
                m, party_id=party, signatory="Директор", signed_on=date(2027, 8, 1), version=version
            )
        )
        if events:
            assert pending is not None
            self.frozen.setdefault(pending, copy.deepcopy(self.agreement.versions[pending].terms))

    @rule()
    def everyone_signs(self) -> None:
        """Every party that must sign the pending version signs it (the common path)."""
        a = self.agreement
        if a.pending_version is None or a.status in CLOSED:
            return
        for party in a.unsigned_parties(a.pending_version):
            self.sign(party, None)

    @rule(licensed=licensed_sets)
    def activate(self, licensed: set[UUID]) -> None:
        a = self.agreement
        previous = a.current_version
        events = self.attempt(lambda m: a.activate(m, licensed_parties=licensed))
        if events:
            (event,) = events
            v = a.versions[event.version]
            # what took effect was signed by all who must sign, every teacher licensed
            assert not a.unsigned_parties(v.number)
            assert set(a.teaching_party_ids(v.number)) <= licensed
            assert not v.missing_clauses()
            if previous is None:
                assert isinstance(event, NetworkAgreement.AgreementActivated)
            else:
                assert isinstance(event, NetworkAgreement.AgreementAmended)
                assert a.version_state(previous) is VersionState.SUPERSEDED

    @rule(choice=terms_choice)
    def amend(self, choice: int) -> None:
        self.attempt(
            lambda m: self.agreement.propose_amendment(
                m, terms=TERMS_POOL[choice], party_kinds=KINDS, reason="Изменение"
            )
        )

    @rule(on=days, now=rarely)
    def terminate(self, on: date, now: bool) -> None:
        if now:
            self.attempt(
                lambda m: self.agreement.terminate(m, reason="Расторжение", terminated_on=on)
            )

    @rule(today=days, now=rarely)
    def expire(self, today: date, now: bool) -> None:
        a = self.agreement
        if not now:
            return
        effective = a.effective_version()
        events = self.attempt(lambda m: a.expire(m, today=today))
        if events:
            assert effective is not None
            assert today > effective.term_end

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def signed_versions_never_change(self) -> None:
        for number, frozen in self.frozen.items():
            assert self.agreement.versions[number].terms == frozen

    @invariant()
    def versions_are_numbered_and_at_most_one_is_pending(self) -> None:
        a = self.agreement
        assert sorted(a.versions) == list(range(1, len(a.versions) + 1))
        if a.pending_version is not None:
            assert a.pending_version == max(a.versions)
            assert a.current_version is None or a.current_version < a.pending_version
        states = [a.version_state(n) for n in a.versions]
        assert sum(s in (VersionState.PENDING, VersionState.SIGNED) for s in states) <= 1
        assert sum(s is VersionState.IN_FORCE for s in states) <= 1

    @invariant()
    def status_agrees_with_the_versions(self) -> None:
        a = self.agreement
        if a.status is AgreementStatus.DRAFT:
            assert a.current_version is None
            assert a.pending_version == 1
            assert a.unsigned_parties(1)
        elif a.status is AgreementStatus.SIGNED:
            assert a.current_version is None
            assert a.pending_version == 1
            assert not a.unsigned_parties(1)
        elif a.status is AgreementStatus.ACTIVE:
            assert a.current_version == 1
        elif a.status is AgreementStatus.AMENDED:
            assert a.current_version is not None
            assert a.current_version > 1
        else:
            assert a.status in CLOSED
            assert a.pending_version is None
        in_force = a.in_force_terms()
        if a.status in IN_FORCE:
            assert a.current_version is not None
            assert in_force == a.versions[a.current_version].terms
            assert a.in_force_program_ids() == {UUID(p) for p in in_force["program_ids"]}
        else:
            assert in_force is None
            assert a.in_force_program_ids() == set()

    @invariant()
    def every_signature_is_by_someone_who_must_sign(self) -> None:
        a = self.agreement
        for number, v in a.versions.items():
            assert set(v.signatures) <= set(a.required_signers(number))

    @invariant()
    def closed_is_final(self) -> None:
        a = self.agreement
        if a.status in CLOSED:
            state = agreement_state(a)
            if self.closed_state is None:
                self.closed_state = state
            assert state == self.closed_state


AgreementLifecycle.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None
)
TestAgreementLifecycle = AgreementLifecycle.TestCase
