"""Properties of the quorum and majority rules, and random command sequences against one
working group: the membership, quorum, voting and protocol rules hold after every step.

The expected values are worked out here from exact fractions and from the test's own
record of who was a member when, never from the aggregate's own queries.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import date, timedelta
from fractions import Fraction
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.errors import DomainError, ValidationError
from domain.values import Agency, EventMeta
from domain.working_group import (
    Decision,
    MajorityRule,
    Meeting,
    QuorumRule,
    VoteChoice,
    WorkingGroup,
    majority_holds,
)
from tests.unit.conftest import AGENDA, copy_meeting, establish, group_state_of

FAST = settings(max_examples=100, deadline=None)


def share(rule: QuorumRule) -> Fraction:
    return Fraction(rule.numerator, rule.denominator)


def quorum_met(rule: QuorumRule, present: int, voting: int) -> bool:
    """The definition: more than (strict) or at least the share of the voting members."""
    if rule.strict:
        return present > share(rule) * voting
    return present >= share(rule) * voting


def needed_by_definition(rule: QuorumRule, voting: int) -> int:
    """The smallest number present that meets the definition, found by counting up."""
    return next(k for k in range(voting + 2) if quorum_met(rule, k, voting))


def adopted_by_definition(rule: MajorityRule, n_for: int, n_against: int, present: int) -> bool:
    if rule is MajorityRule.SIMPLE:
        return n_for > n_against
    if present == 0:
        return False
    if rule is MajorityRule.ABSOLUTE:
        return Fraction(n_for, present) > Fraction(1, 2)
    return Fraction(n_for, present) >= Fraction(2, 3)


@st.composite
def quorum_rules(draw: st.DrawFn) -> QuorumRule:
    denominator = draw(st.integers(min_value=1, max_value=100))
    numerator = draw(st.integers(min_value=1, max_value=denominator))
    # "more than all of them" can never be met, and is refused (see below)
    strict = draw(st.booleans()) if numerator < denominator else False
    return QuorumRule(numerator, denominator, strict)


# -- quorum -------------------------------------------------------------------------------


@FAST
@given(rule=quorum_rules(), voting=st.integers(min_value=0, max_value=200))
def test_the_quorum_needed_is_the_smallest_number_present_meeting_the_share(
    rule: QuorumRule, voting: int
) -> None:
    needed = rule.needed(voting)
    assert needed == needed_by_definition(rule, voting)
    # and exactly the numbers from it up meet the quorum
    for present in range(voting + 1):
        assert (present >= needed) == quorum_met(rule, present, voting)


@FAST
@given(rule=quorum_rules(), voting=st.integers(min_value=1, max_value=200))
def test_a_quorum_is_met_when_every_voting_member_is_present(rule: QuorumRule, voting: int) -> None:
    assert 1 <= rule.needed(voting) <= voting


@FAST
@given(rule=quorum_rules(), voting=st.integers(min_value=0, max_value=199))
def test_more_voting_members_never_need_fewer_present(rule: QuorumRule, voting: int) -> None:
    assert rule.needed(voting) <= rule.needed(voting + 1)


@FAST
@given(
    numerator=st.integers(min_value=-5, max_value=105),
    denominator=st.integers(min_value=-5, max_value=100),
    strict=st.booleans(),
)
def test_only_a_reachable_share_in_zero_to_one_is_a_quorum_rule(
    numerator: int, denominator: int, strict: bool
) -> None:
    valid = 0 < numerator <= denominator and not (strict and numerator == denominator)
    if valid:
        assert QuorumRule(numerator, denominator, strict).numerator == numerator
    else:
        with pytest.raises(ValidationError) as caught:
            QuorumRule(numerator, denominator, strict)
        assert caught.value.extra["field"] == "quorum"


# -- majority -----------------------------------------------------------------------------


@FAST
@given(
    rule=st.sampled_from(list(MajorityRule)),
    n_for=st.integers(min_value=0, max_value=100),
    n_against=st.integers(min_value=0, max_value=100),
    n_abstain=st.integers(min_value=0, max_value=100),
)
def test_majority_holds_as_each_rule_defines_it(
    rule: MajorityRule, n_for: int, n_against: int, n_abstain: int
) -> None:
    present = n_for + n_against + n_abstain
    assert majority_holds(rule, n_for, n_against, present) == adopted_by_definition(
        rule, n_for, n_against, present
    )


@FAST
@given(
    n_for=st.integers(min_value=0, max_value=100),
    n_against=st.integers(min_value=0, max_value=100),
    n_abstain=st.integers(min_value=0, max_value=100),
)
def test_a_stricter_majority_never_adopts_what_a_weaker_one_refuses(
    n_for: int, n_against: int, n_abstain: int
) -> None:
    present = n_for + n_against + n_abstain
    simple, absolute, two_thirds = (
        majority_holds(r, n_for, n_against, present)
        for r in (MajorityRule.SIMPLE, MajorityRule.ABSOLUTE, MajorityRule.TWO_THIRDS)
    )
    assert not (two_thirds and not absolute)
    assert not (absolute and not simple)


# -- random command sequences -------------------------------------------------------------

BASE_DAY = date(2027, 1, 1)
AGENCIES = [Agency.EDUCATION.value, Agency.SPORT.value, Agency.CULTURE.value]
POSITIONS = ["chair", "secretary", "deputy", "member", "member", "member"]
# mostly for, so that adopted motions (and their decisions) are as common as failed ones
CHOICES = st.lists(
    st.sampled_from([VoteChoice.FOR, VoteChoice.FOR, VoteChoice.AGAINST, VoteChoice.ABSTAIN]),
    min_size=16,
    max_size=16,
)
pick = st.integers(min_value=0, max_value=1_000)


@dataclasses.dataclass
class Known:
    """The test's own record of a member."""

    agency: str
    position: str
    voting: bool
    appointed: int  # step
    dismissed: int | None = None  # step

    def current_at(self, step: int) -> bool:
        return self.appointed < step and (self.dismissed is None or self.dismissed > step)


def decisions_of(g: WorkingGroup, meeting: Meeting) -> list[Decision]:
    """The meeting's decisions, without what a later correction may add to them."""
    return [dataclasses.replace(g.decisions[d], superseded_by=None) for d in meeting.decisions]


class GroupLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.known: dict[UUID, Known] = {}
        self.meetings: list[UUID] = []
        self.attended_at: dict[UUID, int] = {}  # meeting -> step of its attendance
        self.present: dict[UUID, set[UUID]] = {}  # meeting -> who attended
        self.agencies_when_scheduled: dict[UUID, set[str]] = {}
        self.motions: dict[UUID, UUID] = {}  # motion -> meeting
        self.voted_at: dict[UUID, int] = {}
        self.present_voting_at_vote: dict[UUID, set[UUID]] = {}
        self.motion_adopted: dict[UUID, bool] = {}
        self.decided: list[UUID] = []
        self.signed: dict[UUID, tuple[Meeting, list[Decision]]] = {}

    @initialize(
        kind=st.sampled_from(["working", "administrative", "interagency", "interagency"]),
        quorum=st.sampled_from(
            [
                QuorumRule(1, 2, strict=True),
                QuorumRule(1, 2, strict=False),
                QuorumRule(2, 3, strict=False),
                QuorumRule(3, 4, strict=True),
                QuorumRule(1, 1, strict=False),
            ]
        ),
        majority=st.sampled_from(list(MajorityRule)),
        founders=st.lists(
            st.tuples(st.sampled_from(POSITIONS), st.sampled_from(AGENCIES), st.booleans()),
            max_size=6,
        ),
    )
    def establish(
        self,
        kind: str,
        quorum: QuorumRule,
        majority: MajorityRule,
        founders: list[tuple[str, str, bool]],
    ) -> None:
        self.group = establish(
            self.next_meta(), kind=kind, quorum=quorum, majority_rule=majority.value
        )
        # the founding members, appointed with the same checks as any later ones
        for position, agency, voting in founders:
            self.appoint(position, agency, voting, reuse=0)

    # -- helpers ----------------------------------------------------------------------

    def next_meta(self) -> EventMeta:
        self.step += 1
        return EventMeta(
            actor_id=f"actor-{self.step}",
            actor_role="official",
            actor_agency="education",
            correlation_id=f"req-{self.step}",
        )

    def today(self) -> date:
        return BASE_DAY + timedelta(days=self.step)

    def current(self) -> dict[UUID, Known]:
        """Members as the test knows them before the running step."""
        return {m: k for m, k in self.known.items() if k.dismissed is None}

    def any_of(self, pool: list[UUID], index: int, *, likely: list[UUID] | None = None) -> UUID:
        """Mostly one of the ``likely`` ones (those the command may accept), else any of
        the pool; one time in ten an id the group never saw."""
        if index % 10 == 7 or not pool:
            return uuid4()
        if likely and index % 10 < 7:
            return likely[index % len(likely)]
        return pool[index % len(pool)]

    def unsigned(self, pool: list[UUID]) -> list[UUID]:
        return [m for m in pool if m not in self.signed]

    def attempt(self, command: Any) -> list[Any]:
        """Runs a command; a refused one must change nothing. Returns the new events."""
        g = self.group
        meta = self.next_meta()
        before = group_state_of(g)
        pending = len(g.pending_events)
        try:
            command(meta)
        except DomainError:
            assert g.version == before["version"]
            assert len(g.pending_events) == pending
            assert group_state_of(g) == before
            return []
        new = list(g.pending_events[pending:])
        assert len(new) == 1, "every group command records exactly one event"
        assert g.version == before["version"] + 1
        assert (new[0].meta.actor_id, new[0].meta.correlation_id) == (
            meta.actor_id,
            meta.correlation_id,
        )
        return new

    # -- commands ---------------------------------------------------------------------

    @rule(
        position=st.sampled_from(POSITIONS),
        agency=st.sampled_from(AGENCIES),
        voting=st.sampled_from([True, True, True, False]),
        reuse=pick,
    )
    def appoint(self, position: str, agency: str, voting: bool, reuse: int) -> None:
        # mostly a new id; one time in ten, the id of someone appointed before
        known = list(self.known)
        member_id = known[reuse % len(known)] if known and reuse % 10 == 7 else uuid4()
        holder = [m for m, k in self.current().items() if k.position == position]
        new = self.attempt(
            lambda meta: self.group.appoint_member(
                meta,
                member_id=member_id,
                person=f"Участник {self.step}",
                organization="Учреждение",
                agency=agency,
                position=position,
                voting=voting,
                appointed_on=self.today(),
            )
        )
        if new:
            assert member_id not in self.known
            if position in ("chair", "secretary"):
                assert holder == [], f"a second {position} was appointed"
            self.known[member_id] = Known(agency, position, voting, appointed=self.step)

    @precondition(lambda self: self.known)
    @rule(index=pick, early=st.sampled_from([False, False, False, True]))
    def dismiss(self, index: int, early: bool) -> None:
        member_id = self.any_of(list(self.known), index, likely=list(self.current()))
        # a dismissal dated before the appointment is refused
        on = BASE_DAY if early else self.today()
        if self.attempt(
            lambda meta: self.group.dismiss_member(
                meta, member_id=member_id, dismissed_on=on, reason="Перевод"
            )
        ):
            assert self.known[member_id].dismissed is None
            self.known[member_id].dismissed = self.step

    @rule(empty=st.sampled_from([False, False, False, False, True]))
    def schedule(self, empty: bool) -> None:
        self.schedule_meeting(empty)

    def schedule_meeting(self, empty: bool = False) -> UUID | None:
        meeting_id = uuid4()
        agencies = {k.agency for k in self.current().values()}
        if not self.attempt(
            lambda meta: self.group.schedule_meeting(
                meta, meeting_id=meeting_id, held_on=self.today(), agenda=[] if empty else AGENDA
            )
        ):
            return None
        self.meetings.append(meeting_id)
        self.agencies_when_scheduled[meeting_id] = agencies
        return meeting_id

    @precondition(lambda self: self.meetings)
    @rule(
        index=pick,
        everyone=st.sampled_from([True, True, False]),
        mask=st.integers(min_value=0, max_value=2**16 - 1),
        extra=st.sampled_from(["none", "none", "none", "dismissed", "stranger"]),
    )
    def attend(self, index: int, everyone: bool, mask: int, extra: str) -> None:
        meeting_id = self.any_of(self.meetings, index, likely=self.unsigned(self.meetings))
        current = list(self.current())
        present = current if everyone else [m for i, m in enumerate(current) if mask >> i & 1]
        dismissed = [m for m, k in self.known.items() if k.dismissed is not None]
        if extra == "dismissed" and dismissed:
            present = [*present, dismissed[index % len(dismissed)]]
        elif extra == "stranger":
            present = [*present, uuid4()]
        self.record_attendance(meeting_id, present)

    def record_attendance(self, meeting_id: UUID, present: list[UUID]) -> None:
        current = set(self.current())
        if self.attempt(
            lambda meta: self.group.record_attendance(meta, meeting_id=meeting_id, present=present)
        ):
            assert set(present) <= current, "someone not a current member attended"
            assert meeting_id not in self.signed
            self.attended_at[meeting_id] = self.step
            self.present[meeting_id] = set(present)

    @precondition(lambda self: self.attended_at)
    @rule(
        index=pick,
        choices=CHOICES,
        tamper=st.sampled_from(["none", "none", "none", "missing", "absent", "non-voting"]),
        item=st.sampled_from(["1", "1", "1", "2", "9"]),
    )
    def vote(self, index: int, choices: list[VoteChoice], tamper: str, item: str) -> None:
        attended = list(self.attended_at)
        meeting_id = self.any_of(attended, index, likely=self.unsigned(attended))
        self.vote_at(meeting_id, choices, tamper, item)

    def vote_at(
        self, meeting_id: UUID, choices: list[VoteChoice], tamper: str = "none", item: str = "1"
    ) -> UUID | None:
        g = self.group
        current = self.current()
        voting = {m for m, k in current.items() if k.voting}
        present_voting = voting & self.present.get(meeting_id, set())
        votes = {m: choices[i % len(choices)].value for i, m in enumerate(sorted(present_voting))}
        if tamper == "missing" and votes:
            votes.pop(next(iter(votes)))
        elif tamper == "absent" and voting - present_voting:
            votes[next(iter(voting - present_voting))] = "for"
        elif tamper == "non-voting" and set(current) - voting:
            votes[next(iter(set(current) - voting))] = "for"
        motion_id = uuid4()
        new = self.attempt(
            lambda meta: g.vote_on_motion(
                meta,
                meeting_id=meeting_id,
                motion_id=motion_id,
                agenda_item=item,
                text="Вопрос повестки",
                votes=votes,
            )
        )
        if not new:
            return None
        event = new[0]
        assert isinstance(event, WorkingGroup.MotionVoted)
        # counted on the members as the test knows them, with the exact definitions
        assert event.voting_members == len(voting)
        assert event.present_voting == len(present_voting)
        assert quorum_met(g.quorum, len(present_voting), len(voting))
        assert {UUID(m) for m in event.votes} == present_voting
        assert meeting_id not in self.signed
        self.motions[motion_id] = meeting_id
        self.voted_at[motion_id] = self.step
        self.present_voting_at_vote[motion_id] = present_voting
        tally = [votes[m] for m in present_voting]
        self.motion_adopted[motion_id] = adopted_by_definition(
            g.majority_rule, tally.count("for"), tally.count("against"), len(tally)
        )
        return motion_id

    @rule(
        absent=st.integers(min_value=0, max_value=3),
        choices=CHOICES,
        correct=st.sampled_from([None, None, None, 1, 5]),
    )
    def convene(self, absent: int, choices: list[VoteChoice], correct: int | None) -> None:
        """A whole sitting: schedule, everyone but a few attends, they vote and decide,
        sometimes correcting an earlier decision."""
        meeting_id = self.schedule_meeting()
        if meeting_id is None:
            return
        current = list(self.current())
        self.record_attendance(meeting_id, current[: len(current) - absent])
        motion_id = self.vote_at(meeting_id, choices)
        if motion_id is None:
            return
        corrects = None
        if correct is not None and self.decided:
            corrects = self.decided[correct % len(self.decided)]
        self.record_decision(meeting_id, motion_id, self.protocol(meeting_id), corrects)

    @precondition(lambda self: self.motions)
    @rule(
        index=pick,
        protocol=st.sampled_from(["own", "own", "own", "other"]),
        correct=st.sampled_from([False, False, True]),
        which=pick,
    )
    def decide(self, index: int, protocol: str, correct: bool, which: int) -> None:
        decided = {d.motion_id for d in self.group.decisions.values()}
        motion_id = self.any_of(
            list(self.motions),
            index,
            likely=[
                m for m, mt in self.motions.items() if m not in decided and mt not in self.signed
            ],
        )
        meeting_id = self.motions.get(motion_id, self.any_of(self.meetings, index))
        corrects = self.decided[which % len(self.decided)] if correct and self.decided else None
        self.record_decision(meeting_id, motion_id, self.protocol(meeting_id, protocol), corrects)

    def protocol(self, meeting_id: UUID, which: str = "own") -> str:
        """The meeting's own protocol number, or another one."""
        number = f"{self.meetings.index(meeting_id) + 1 if meeting_id in self.meetings else 0}"
        return number if which == "own" else f"{number}-bis"

    def record_decision(
        self, meeting_id: UUID, motion_id: UUID, number: str, corrects: UUID | None
    ) -> None:
        g = self.group
        decision_id = uuid4()
        new = self.attempt(
            lambda meta: g.record_decision(
                meta,
                decision_id=decision_id,
                meeting_id=meeting_id,
                protocol_number=number,
                text="Решение",
                motion_id=motion_id,
                mechanism="working_groups",
                corrects=corrects,
            )
        )
        if new:
            assert meeting_id not in self.signed
            assert g.decisions[decision_id].adopted is self.motion_adopted[motion_id]
            self.decided.append(decision_id)

    @precondition(lambda self: self.attended_at)
    @rule(index=pick, protocol=st.sampled_from(["own", "own", "own", "other"]))
    def sign(self, index: int, protocol: str) -> None:
        g = self.group
        # mostly a meeting that has voted, so that signed protocols hold decisions
        voted = self.unsigned(list(dict.fromkeys(self.motions.values())))
        meeting_id = self.any_of(self.meetings, index, likely=voted or self.unsigned(self.meetings))
        number = self.protocol(meeting_id, protocol)
        if self.attempt(
            lambda meta: g.sign_protocol(meta, meeting_id=meeting_id, protocol_number=number)
        ):
            assert meeting_id not in self.signed
            m = g.meetings[meeting_id]
            self.signed[meeting_id] = (copy_meeting(m), decisions_of(g, m))

    @rule(chance=st.integers(min_value=0, max_value=49))
    def dissolve(self, chance: int) -> None:
        # Dissolving ends all work, so it is tried rarely to let runs go far.
        # (not on 0: Hypothesis draws the bounds of a range far more often than the rest)
        if chance == 37:
            self.attempt(lambda meta: self.group.dissolve(meta, reason="Задачи выполнены"))

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def at_most_one_current_chair_and_one_secretary(self) -> None:
        positions = [m.position.value for m in self.group.current_members()]
        assert positions.count("chair") <= 1
        assert positions.count("secretary") <= 1

    @invariant()
    def the_current_members_are_those_appointed_and_not_dismissed(self) -> None:
        assert {m.id for m in self.group.current_members()} == set(self.current())

    @invariant()
    def dismissed_members_never_attend_later_meetings(self) -> None:
        for meeting_id, m in self.group.meetings.items():
            for member_id in m.present:
                assert self.known[member_id].current_at(self.attended_at[meeting_id])

    @invariant()
    def votes_come_from_all_voting_members_present_and_only_them(self) -> None:
        g = self.group
        for motion_id, meeting_id in self.motions.items():
            motion = g.meetings[meeting_id].motions[motion_id]
            voters = set(motion.votes)
            assert voters == self.present_voting_at_vote[motion_id]
            assert voters <= g.meetings[meeting_id].present
            for member_id in voters:
                known = self.known[member_id]
                assert known.voting
                assert known.current_at(self.voted_at[motion_id])
            assert motion.present_voting == len(voters)

    @invariant()
    def every_motion_had_quorum_and_is_adopted_iff_its_majority_holds(self) -> None:
        g = self.group
        for m in g.meetings.values():
            for motion in m.motions.values():
                assert motion.quorum_needed == needed_by_definition(g.quorum, motion.voting_members)
                assert motion.present_voting >= motion.quorum_needed
                tally = list(motion.votes.values())
                n_for, n_against = tally.count(VoteChoice.FOR), tally.count(VoteChoice.AGAINST)
                assert motion.adopted == adopted_by_definition(
                    g.majority_rule, n_for, n_against, len(tally)
                )

    @invariant()
    def decisions_follow_their_motions_one_each(self) -> None:
        g = self.group
        motions = [d.motion_id for d in g.decisions.values()]
        assert len(motions) == len(set(motions))
        for d in g.decisions.values():
            meeting = g.meetings[d.meeting_id]
            assert d.adopted is meeting.motions[d.motion_id].adopted
            assert d.protocol_number == meeting.protocol_number
            if d.superseded_by is not None:
                newer = g.decisions[d.superseded_by]
                assert (newer.corrects, newer.adopted) == (d.id, True)

    @invariant()
    def signed_meetings_never_change(self) -> None:
        g = self.group
        for meeting_id, (meeting, decisions) in self.signed.items():
            now = g.meetings[meeting_id]
            assert now == meeting
            assert decisions_of(g, now) == decisions

    @invariant()
    def interagency_groups_meet_only_with_members_of_two_agencies(self) -> None:
        g = self.group
        assert set(g.meetings) == set(self.meetings)
        if g.kind.value == "interagency":
            for agencies in self.agencies_when_scheduled.values():
                assert len(agencies) >= 2

    @invariant()
    def the_pending_events_replay_to_the_same_state(self) -> None:
        g = self.group
        rebuilt: Any = functools.reduce(lambda a, e: e.mutate(a), g.pending_events, None)
        assert rebuilt.version == g.version == len(g.pending_events)
        assert rebuilt.status is g.status
        assert (rebuilt.members, rebuilt.meetings) == (g.members, g.meetings)
        assert (rebuilt.decisions, rebuilt.action_items) == (g.decisions, g.action_items)


GroupLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestGroupLifecycle = GroupLifecycle.TestCase
