"""Scenarios over the WorkingGroup aggregate and the decision check other commands use.

Given a group (built by commands), when a command runs, then the events it recorded and
the state they produced are as the domain says. Refused commands record nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Mapper

from domain.base import DomainAggregate
from domain.errors import RuleViolationError, ValidationError
from domain.project import STAGES, InteragencyProject, Stage
from domain.values import Agency, EventMeta, Mechanism
from domain.working_group import (
    DecisionIndex,
    DecisionTarget,
    GroupKind,
    GroupStatus,
    MajorityRule,
    Position,
    QuorumRule,
    TargetKind,
    VoteChoice,
    WorkingGroup,
    check_decision_authorises,
)
from tests.unit.conftest import (
    AGENDA,
    DAY,
    META,
    MUNICIPALITY,
    appoint,
    approve,
    assert_refused,
    decide,
    establish,
    event_names,
    initiate,
    meeting,
    plan,
    signed_decision,
    staffed,
    vote,
)

Group = tuple[WorkingGroup, list[UUID]]
FIRST, SECOND, *_ = STAGES


def replay(events: list[Any]) -> WorkingGroup:
    rebuilt = functools.reduce(lambda a, e: e.mutate(a), events, None)
    assert isinstance(rebuilt, WorkingGroup)
    return rebuilt


def all_for(g: WorkingGroup, meeting_id: UUID, choice: str = "for") -> dict[UUID, str]:
    """The same choice for every voting member present at the meeting."""
    present = g.meetings[meeting_id].present
    return {m.id: choice for m in g.current_members() if m.voting and m.id in present}


# -- establishing ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(GroupKind))
def test_establishing_a_group_records_its_kind_scope_and_rules(kind: GroupKind) -> None:
    # given
    group_id, project_id = uuid4(), uuid4()
    # when
    g = establish(
        group_id=group_id,
        kind=kind.value,
        name="  Рабочая группа по сетевым программам ",
        project_id=project_id,
        quorum=QuorumRule(2, 3, strict=False),
        majority_rule="two_thirds",
    )
    # then
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.GroupEstablished)
    assert event.meta == META
    assert (event.kind, event.name, event.municipality) == (
        kind.value,
        "Рабочая группа по сетевым программам",
        MUNICIPALITY,
    )
    assert (event.quorum_numerator, event.quorum_denominator, event.quorum_strict) == (2, 3, False)
    assert g.id == group_id
    assert g.kind is kind
    assert g.project_id == project_id
    assert g.quorum == QuorumRule(2, 3, strict=False)
    assert g.majority_rule is MajorityRule.TWO_THIRDS
    assert g.status is GroupStatus.ACTIVE
    assert (g.members, g.meetings, g.decisions, g.action_items) == ({}, {}, {}, {})
    assert g.version == 1


def test_a_group_needs_more_than_half_present_and_a_simple_majority_unless_told() -> None:
    g = establish()
    assert g.quorum == QuorumRule(1, 2, strict=True)
    assert g.majority_rule is MajorityRule.SIMPLE
    assert g.project_id is None


@pytest.mark.parametrize("field", ["kind", "majority_rule"])
def test_an_unknown_kind_or_majority_rule_is_invalid_input_naming_the_field(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        establish(**{field: "committee"})
    assert caught.value.extra["field"] == field
    assert "committee" in caught.value.detail


@pytest.mark.parametrize("field", ["name", "basis_act", "municipality"])
def test_a_blank_name_basis_act_or_municipality_is_invalid_input(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        establish(**{field: "   "})
    assert caught.value.extra["field"] == field


@pytest.mark.parametrize(
    ("numerator", "denominator", "strict"),
    [(0, 2, True), (-1, 2, False), (3, 2, False), (1, 0, True), (1, -2, False), (2, 2, True)],
    ids=["zero", "negative", "above-one", "zero-denominator", "negative-denominator", "over-all"],
)
def test_a_quorum_share_outside_zero_to_one_or_beyond_reach_is_invalid_input(
    numerator: int, denominator: int, strict: bool
) -> None:
    # "more than all of them" (strict 2/2) could never be met: no vote would ever be held.
    with pytest.raises(ValidationError) as caught:
        QuorumRule(numerator, denominator, strict)
    assert caught.value.extra["field"] == "quorum"


def test_a_quorum_of_all_the_voting_members_is_allowed() -> None:
    assert QuorumRule(1, 1, strict=False).needed(7) == 7


# -- appointing -----------------------------------------------------------------------


def test_appointing_a_member_records_who_they_are_and_whether_they_vote() -> None:
    # given
    g = establish()
    g.collect_events()
    member_id = uuid4()
    # when
    g.appoint_member(
        META,
        member_id=member_id,
        person=" Иванова Мария Петровна ",
        organization="Управление образования",
        agency="education",
        position="chair",
        voting=False,
        appointed_on=DAY,
    )
    # then
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.MemberAppointed)
    assert (event.member_id, event.person, event.agency, event.position, event.voting) == (
        member_id,
        "Иванова Мария Петровна",
        "education",
        "chair",
        False,
    )
    m = g.members[member_id]
    assert (m.agency, m.position, m.voting, m.appointed_on) == (
        Agency.EDUCATION,
        Position.CHAIR,
        False,
        DAY,
    )
    assert m.current
    assert g.current_members() == [m]


@pytest.mark.parametrize("position", ["chair", "secretary"])
def test_a_group_has_one_chair_and_one_secretary(position: str) -> None:
    # given a group that has one
    g = establish()
    appoint(g, position=position, person="Первый")
    # when a second one is appointed, then it is refused, naming the one there is
    error = assert_refused(
        g, lambda: appoint(g, position=position), RuleViolationError, rule=f"one_{position}"
    )
    assert "Первый" in error.detail


def test_deputies_and_members_are_as_many_as_the_group_needs() -> None:
    g = establish()
    ids = [appoint(g, position=p) for p in ("deputy", "deputy", "member", "member")]
    assert len(g.current_members()) == len(ids) == 4


@pytest.mark.parametrize("position", ["chair", "secretary"])
def test_a_new_chair_or_secretary_can_be_appointed_once_the_old_one_is_dismissed(
    position: str,
) -> None:
    # given
    g = establish()
    old = appoint(g, position=position)
    # when
    g.dismiss_member(META, member_id=old, dismissed_on=DAY, reason="Перевод на другую работу")
    new = appoint(g, position=position)
    # then
    holders = [m.id for m in g.current_members() if m.position.value == position]
    assert holders == [new]


def test_a_member_id_is_appointed_only_once_even_after_dismissal() -> None:
    # given a dismissed member
    g = establish()
    member_id = appoint(g)
    g.dismiss_member(META, member_id=member_id, dismissed_on=DAY, reason="Выбыл")

    # when the same id is appointed again, then it is refused
    def again() -> None:
        g.appoint_member(
            META,
            member_id=member_id,
            person="Новый",
            organization="Отдел",
            agency="sport",
            position="member",
            appointed_on=DAY,
        )

    assert_refused(g, again, RuleViolationError, rule="member_id_unique")


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("position", {"position": "president"}),
        ("agency", {"agency": "police"}),
        ("person", {"person": " "}),
    ],
)
def test_an_unknown_position_or_agency_or_blank_person_is_invalid_input(
    field: str, overrides: dict[str, str]
) -> None:
    g = establish()
    assert_refused(g, lambda: appoint(g, **overrides), ValidationError, field=field)  # type: ignore[arg-type]


# -- dismissing -----------------------------------------------------------------------


def test_dismissing_records_the_date_and_the_reason(group: Group) -> None:
    # given
    g, ids = group
    # when
    g.dismiss_member(META, member_id=ids[2], dismissed_on=DAY, reason="Перевод")
    # then
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.MemberDismissed)
    assert event.meta == META.because("Перевод")
    assert g.members[ids[2]].dismissed_on == DAY
    assert ids[2] not in {m.id for m in g.current_members()}
    assert ids[2] in g.members  # the roster keeps them


def test_a_member_cannot_be_dismissed_before_being_appointed(group: Group) -> None:
    g, ids = group
    assert_refused(
        g,
        lambda: g.dismiss_member(
            META, member_id=ids[2], dismissed_on=DAY - timedelta(days=1), reason="Ошибка"
        ),
        RuleViolationError,
        rule="dismissal_after_appointment",
    )


def test_a_dismissed_or_unknown_member_cannot_be_dismissed(group: Group) -> None:
    # given
    g, ids = group
    g.dismiss_member(META, member_id=ids[2], dismissed_on=DAY, reason="Перевод")
    # then
    for member_id in (ids[2], uuid4()):
        assert_refused(
            g,
            lambda m=member_id: g.dismiss_member(  # type: ignore[misc]
                META, member_id=m, dismissed_on=DAY, reason="Ещё раз"
            ),
            RuleViolationError,
            rule="member_current",
        )


def test_dismissing_needs_a_reason(group: Group) -> None:
    g, ids = group
    assert_refused(
        g,
        lambda: g.dismiss_member(META, member_id=ids[2], dismissed_on=DAY, reason=" "),
        ValidationError,
        field="reason",
    )


def test_a_dismissed_member_no_longer_counts_towards_the_quorum(group: Group) -> None:
    # given five voting members, one of them dismissed
    g, ids = group
    g.dismiss_member(META, member_id=ids[4], dismissed_on=DAY, reason="Перевод")
    # when two of the four remaining attend and vote
    meeting_id = meeting(g, ids[:3])
    vote(g, meeting_id)
    # then the quorum was counted on four voting members: three needed, three present
    motion = next(iter(g.meetings[meeting_id].motions.values()))
    assert (motion.voting_members, motion.quorum_needed, motion.present_voting) == (4, 3, 3)


def test_a_dismissed_member_cannot_attend(group: Group) -> None:
    # given
    g, ids = group
    g.dismiss_member(META, member_id=ids[4], dismissed_on=DAY, reason="Перевод")
    g.schedule_meeting(META, meeting_id=(meeting_id := uuid4()), held_on=DAY, agenda=AGENDA)
    # then
    error = assert_refused(
        g,
        lambda: g.record_attendance(META, meeting_id=meeting_id, present=ids),
        RuleViolationError,
        rule="attendees_are_members",
    )
    assert str(ids[4]) in error.detail


def test_a_member_dismissed_after_attending_neither_votes_nor_counts_as_present(
    group: Group,
) -> None:
    # given everyone attended, then one member was dismissed during the meeting
    g, ids = group
    meeting_id = meeting(g)
    g.dismiss_member(META, member_id=ids[4], dismissed_on=DAY, reason="Перевод")
    # when the dismissed member votes, then it is refused
    assert_refused(
        g,
        lambda: vote(g, meeting_id, {i: "for" for i in ids}),
        RuleViolationError,
        rule="votes_from_present_voting_members",
    )
    # when the others vote, then only they are counted
    motion_id = vote(g, meeting_id, {i: "for" for i in ids[:4]})
    motion = g.meetings[meeting_id].motions[motion_id]
    assert (motion.voting_members, motion.present_voting) == (4, 4)
    assert set(motion.votes) == set(ids[:4])


# -- meetings -------------------------------------------------------------------------


def test_an_interagency_group_meets_only_once_its_members_come_from_two_agencies() -> None:
    # given an interagency group with no members yet
    g = establish(kind="interagency")

    def schedule() -> None:
        g.schedule_meeting(META, meeting_id=uuid4(), held_on=DAY, agenda=AGENDA)

    # then no meeting: nobody, then members of education alone
    assert_refused(g, schedule, RuleViolationError, rule="interagency_members_from_two_agencies")
    appoint(g, agency="education", position="chair")
    appoint(g, agency="education")
    error = assert_refused(
        g, schedule, RuleViolationError, rule="interagency_members_from_two_agencies"
    )
    assert "education" in error.detail
    # when a member of sport joins, then it can meet
    sport = appoint(g, agency="sport", voting=False)
    schedule()
    assert len(g.meetings) == 1
    # when the only member of sport leaves, then it cannot meet again
    g.dismiss_member(META, member_id=sport, dismissed_on=DAY, reason="Выбыл")
    assert_refused(g, schedule, RuleViolationError, rule="interagency_members_from_two_agencies")


@pytest.mark.parametrize("kind", ["working", "administrative"])
def test_a_working_or_administrative_group_meets_with_members_of_one_agency(kind: str) -> None:
    # given
    g = establish(kind=kind)
    appoint(g, agency="education", position="chair")
    appoint(g, agency="education")
    g.collect_events()
    meeting_id = uuid4()
    # when
    g.schedule_meeting(
        META, meeting_id=meeting_id, held_on=DAY, agenda=[" О плане работы ", "Разное"]
    )
    # then the agenda items are numbered from 1
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.MeetingScheduled)
    assert event.agenda == [
        {"item": "1", "title": "О плане работы"},
        {"item": "2", "title": "Разное"},
    ]
    m = g.meetings[meeting_id]
    assert (m.held_on, m.agenda) == (DAY, {"1": "О плане работы", "2": "Разное"})
    assert not m.attendance_recorded
    assert not m.signed
    assert m.protocol_number is None


def test_a_meeting_needs_an_agenda_and_a_new_id(group: Group) -> None:
    g, _ = group
    meeting_id = meeting(g)
    assert_refused(
        g,
        lambda: g.schedule_meeting(META, meeting_id=uuid4(), held_on=DAY, agenda=[]),
        ValidationError,
        field="agenda",
    )
    assert_refused(
        g,
        lambda: g.schedule_meeting(META, meeting_id=uuid4(), held_on=DAY, agenda=[" "]),
        ValidationError,
        field="agenda",
    )
    assert_refused(
        g,
        lambda: g.schedule_meeting(META, meeting_id=meeting_id, held_on=DAY, agenda=AGENDA),
        RuleViolationError,
        rule="meeting_id_unique",
    )


# -- attendance -----------------------------------------------------------------------


def test_attendance_lists_each_member_present_once(group: Group) -> None:
    # given
    g, ids = group
    g.schedule_meeting(META, meeting_id=(meeting_id := uuid4()), held_on=DAY, agenda=AGENDA)
    g.collect_events()
    # when
    g.record_attendance(META, meeting_id=meeting_id, present=[ids[0], ids[1], ids[0]])
    # then
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.AttendanceRecorded)
    assert event.present == [ids[0], ids[1]]
    assert g.meetings[meeting_id].present == {ids[0], ids[1]}
    assert g.meetings[meeting_id].attendance_recorded


def test_only_current_members_attend_a_meeting_of_the_group(group: Group) -> None:
    g, ids = group
    g.schedule_meeting(META, meeting_id=(meeting_id := uuid4()), held_on=DAY, agenda=AGENDA)
    stranger = uuid4()
    error = assert_refused(
        g,
        lambda: g.record_attendance(META, meeting_id=meeting_id, present=[ids[0], stranger]),
        RuleViolationError,
        rule="attendees_are_members",
    )
    assert str(stranger) in error.detail
    assert_refused(
        g,
        lambda: g.record_attendance(META, meeting_id=uuid4(), present=ids),
        RuleViolationError,
        rule="meeting_exists",
    )


def test_attendance_can_be_corrected_until_the_meeting_has_voted(group: Group) -> None:
    # given attendance recorded, then corrected
    g, ids = group
    meeting_id = meeting(g, ids[:3])
    g.record_attendance(META, meeting_id=meeting_id, present=ids)
    assert g.meetings[meeting_id].present == set(ids)
    # when the meeting votes, then attendance is fixed
    vote(g, meeting_id)
    assert_refused(
        g,
        lambda: g.record_attendance(META, meeting_id=meeting_id, present=ids[:3]),
        RuleViolationError,
        rule="attendance_before_votes",
    )


# -- voting ---------------------------------------------------------------------------


def test_a_vote_records_the_count_and_the_outcome(group: Group) -> None:
    # given
    g, ids = group
    meeting_id = meeting(g)
    g.collect_events()
    motion_id = uuid4()
    votes = dict(zip(ids, ["for", "for", "against", "abstain", "for"], strict=True))
    # when
    adopted = g.vote_on_motion(
        META,
        meeting_id=meeting_id,
        motion_id=motion_id,
        agenda_item="1",
        text=" Признать этап выполненным ",
        votes=votes,
    )
    # then
    assert adopted is True
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.MotionVoted)
    assert event.votes == {str(k): v for k, v in votes.items()}
    assert (event.votes_for, event.votes_against, event.abstentions) == (3, 1, 1)
    assert (event.voting_members, event.present_voting, event.quorum_needed) == (5, 5, 3)
    assert event.adopted is True
    motion = g.meetings[meeting_id].motions[motion_id]
    assert motion.text == "Признать этап выполненным"
    assert motion.votes[ids[2]] is VoteChoice.AGAINST
    assert motion.adopted


def test_a_vote_is_refused_before_attendance_is_recorded(group: Group) -> None:
    g, ids = group
    g.schedule_meeting(META, meeting_id=(meeting_id := uuid4()), held_on=DAY, agenda=AGENDA)
    assert_refused(
        g,
        lambda: vote(g, meeting_id, {i: "for" for i in ids}),
        RuleViolationError,
        rule="attendance_recorded_before_vote",
    )


def test_a_vote_on_an_item_not_on_the_agenda_is_refused(group: Group) -> None:
    g, ids = group
    meeting_id = meeting(g)
    assert_refused(
        g,
        lambda: g.vote_on_motion(
            META,
            meeting_id=meeting_id,
            motion_id=uuid4(),
            agenda_item="3",
            text="Внеплановый вопрос",
            votes=dict.fromkeys(ids, "for"),
        ),
        RuleViolationError,
        rule="agenda_item_exists",
    )


def test_a_vote_without_quorum_is_refused_naming_the_quorum_needed_and_present(
    group: Group,
) -> None:
    # given five voting members and a non-voting one; two voting members and the
    # non-voting one attend
    g, ids = group
    observer = appoint(g, voting=False, agency="health")
    meeting_id = meeting(g, [ids[0], ids[1], observer])
    # when they vote, then it is refused: the non-voting member does not count
    error = assert_refused(
        g,
        lambda: vote(g, meeting_id, {ids[0]: "for", ids[1]: "for"}),
        RuleViolationError,
        rule="quorum",
    )
    assert error.extra["quorum_needed"] == 3
    assert error.extra["quorum_present"] == 2
    assert error.extra["voting_members"] == 5
    assert "2 voting member(s) present" in error.detail
    assert "3 needed" in error.detail


@pytest.mark.parametrize(
    ("quorum", "voting", "present", "held"),
    [
        (QuorumRule(1, 2, strict=True), 4, 2, False),
        (QuorumRule(1, 2, strict=True), 4, 3, True),
        (QuorumRule(1, 2, strict=False), 4, 2, True),
        (QuorumRule(1, 2, strict=False), 5, 2, False),
        (QuorumRule(2, 3, strict=False), 6, 3, False),
        (QuorumRule(2, 3, strict=False), 6, 4, True),
        (QuorumRule(2, 3, strict=True), 6, 4, False),
        (QuorumRule(2, 3, strict=True), 6, 5, True),
        (QuorumRule(1, 1, strict=False), 3, 2, False),
        (QuorumRule(1, 1, strict=False), 3, 3, True),
    ],
)
def test_quorum_holds_exactly_from_its_threshold(
    quorum: QuorumRule, voting: int, present: int, held: bool
) -> None:
    # given a working group of ``voting`` voting members, ``present`` of them attending
    g = establish(kind="working", quorum=quorum)
    ids = [appoint(g) for _ in range(voting)]
    meeting_id = meeting(g, ids[:present])

    # when they vote
    def voted() -> UUID:
        return vote(g, meeting_id, dict.fromkeys(ids[:present], "for"))

    # then the vote is held exactly when quorum is there
    if held:
        motion_id = voted()
        assert g.meetings[meeting_id].motions[motion_id].present_voting == present
    else:
        assert_refused(g, voted, RuleViolationError, rule="quorum")


def test_every_voting_member_present_must_vote(group: Group) -> None:
    g, ids = group
    meeting_id = meeting(g)
    error = assert_refused(
        g,
        lambda: vote(g, meeting_id, {i: "for" for i in ids[:3]}),
        RuleViolationError,
        rule="every_present_member_votes",
    )
    assert str(ids[3]) in error.detail
    assert str(ids[4]) in error.detail


@pytest.mark.parametrize("who", ["non-voting", "absent", "stranger"])
def test_only_voting_members_present_may_vote(group: Group, who: str) -> None:
    # given a non-voting member present and a voting member absent
    g, ids = group
    observer = appoint(g, voting=False, agency="health")
    meeting_id = meeting(g, [*ids[:4], observer])
    intruder = {"non-voting": observer, "absent": ids[4], "stranger": uuid4()}[who]
    # then
    error = assert_refused(
        g,
        lambda: vote(g, meeting_id, {**dict.fromkeys(ids[:4], "for"), intruder: "for"}),
        RuleViolationError,
        rule="votes_from_present_voting_members",
    )
    assert str(intruder) in error.detail


def test_an_unknown_vote_choice_is_invalid_input(group: Group) -> None:
    g, ids = group
    meeting_id = meeting(g)
    assert_refused(
        g,
        lambda: vote(g, meeting_id, {**dict.fromkeys(ids, "for"), ids[0]: "maybe"}),
        ValidationError,
        field="votes",
    )


def test_a_motion_is_voted_once(group: Group) -> None:
    g, ids = group
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id)
    assert_refused(
        g,
        lambda: g.vote_on_motion(
            META,
            meeting_id=meeting_id,
            motion_id=motion_id,
            agenda_item="2",
            text="Повторно",
            votes=dict.fromkeys(ids, "for"),
        ),
        RuleViolationError,
        rule="motion_id_unique",
    )


@pytest.mark.parametrize(
    ("rule", "n_for", "n_against", "n_abstain", "adopted"),
    [
        # simple: more for than against; abstentions do not count
        ("simple", 2, 1, 2, True),
        ("simple", 1, 0, 4, True),
        ("simple", 2, 2, 1, False),
        ("simple", 0, 0, 5, False),
        # absolute: more than half of the voting members present
        ("absolute", 2, 1, 2, False),
        ("absolute", 3, 0, 2, True),
        ("absolute", 3, 2, 0, True),
        ("absolute", 2, 0, 2, False),
        # two thirds: at least two thirds of the voting members present
        ("two_thirds", 4, 2, 0, True),
        ("two_thirds", 4, 0, 2, True),
        ("two_thirds", 3, 1, 2, False),
        ("two_thirds", 3, 0, 2, False),
    ],
)
def test_the_majority_rule_decides_adoption(
    rule: str, n_for: int, n_against: int, n_abstain: int, adopted: bool
) -> None:
    # given a group of exactly the members who attend
    g = establish(kind="working", majority_rule=rule)
    choices = ["for"] * n_for + ["against"] * n_against + ["abstain"] * n_abstain
    ids = [appoint(g) for _ in choices]
    meeting_id = meeting(g)
    # when they vote
    result = g.vote_on_motion(
        META,
        meeting_id=meeting_id,
        motion_id=(motion_id := uuid4()),
        agenda_item="1",
        text="Вопрос",
        votes=dict(zip(ids, choices, strict=True)),
    )
    # then
    assert result is adopted
    assert g.meetings[meeting_id].motions[motion_id].adopted is adopted


@pytest.mark.parametrize("rule", list(MajorityRule))
def test_a_motion_nobody_voted_for_is_never_adopted_even_without_voting_members(
    rule: MajorityRule,
) -> None:
    # given a working group whose only member does not vote, and "at least half" quorum
    g = establish(kind="working", quorum=QuorumRule(1, 2, strict=False), majority_rule=rule)
    appoint(g, voting=False)
    meeting_id = meeting(g)
    # when it "votes" with nobody entitled to
    motion_id = vote(g, meeting_id, {})
    # then the motion failed
    assert g.meetings[meeting_id].motions[motion_id].adopted is False


# -- decisions ------------------------------------------------------------------------


def test_a_decision_on_an_adopted_motion_is_an_adopted_decision(group: Group) -> None:
    # given
    g, _ = group
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id)
    g.collect_events()
    project_id, decision_id = uuid4(), uuid4()
    target = DecisionTarget(TargetKind.PROJECT_GATE, project_id=project_id, stage=FIRST)
    # when
    g.record_decision(
        META,
        decision_id=decision_id,
        meeting_id=meeting_id,
        protocol_number=" 1/2027 ",
        text="Первый этап выполнен",
        motion_id=motion_id,
        mechanism="working_groups",
        targets=[target],
    )
    # then
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.DecisionRecorded)
    assert event.adopted is True
    assert event.agenda_item == "1"
    assert event.targets == [
        {
            "kind": "project_gate",
            "project_id": str(project_id),
            "stage": FIRST.value,
            "deliverable_id": None,
            "redistribution_ref": None,
        }
    ]
    d = g.decisions[decision_id]
    assert d.adopted
    assert (d.protocol_number, d.motion_id, d.mechanism) == (
        "1/2027",
        motion_id,
        Mechanism.WORKING_GROUPS,
    )
    assert d.targets == [target]
    assert d.recorded_at == event.timestamp
    assert (d.corrects, d.superseded_by) == (None, None)
    assert g.meetings[meeting_id].protocol_number == "1/2027"
    assert g.meetings[meeting_id].decisions == [decision_id]
    assert g.meeting_of(decision_id) is g.meetings[meeting_id]


def test_a_decision_on_a_failed_motion_is_recorded_as_not_adopted(group: Group) -> None:
    g, _ = group
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id, all_for(g, meeting_id, "against"))
    decision_id = decide(g, meeting_id, motion_id)
    assert g.decisions[decision_id].adopted is False


def test_a_decision_is_recorded_only_on_a_motion_voted_at_that_meeting(group: Group) -> None:
    g, _ = group
    first = meeting(g)
    motion_id = vote(g, first)
    second = meeting(g)
    for meeting_id, motion in ((second, motion_id), (first, uuid4())):
        assert_refused(
            g,
            lambda m=meeting_id, mo=motion: decide(g, m, mo),  # type: ignore[misc]
            RuleViolationError,
            rule="decision_on_voted_motion",
        )


def test_a_motion_has_one_decision_and_a_decision_id_is_used_once(group: Group) -> None:
    # given a decision on the first motion
    g, _ = group
    meeting_id = meeting(g)
    first = vote(g, meeting_id)
    decision_id = decide(g, meeting_id, first)
    # then a second decision on the same motion is refused
    assert_refused(
        g, lambda: decide(g, meeting_id, first), RuleViolationError, rule="one_decision_per_motion"
    )
    # and a decision on another motion cannot reuse the id
    second = vote(g, meeting_id)
    assert_refused(
        g,
        lambda: g.record_decision(
            META,
            decision_id=decision_id,
            meeting_id=meeting_id,
            protocol_number="1/2027",
            text="Другое решение",
            motion_id=second,
            mechanism="working_groups",
        ),
        RuleViolationError,
        rule="decision_id_unique",
    )


def test_a_meeting_has_one_protocol_number(group: Group) -> None:
    # given a decision in protocol 1/2027
    g, _ = group
    meeting_id = meeting(g)
    decide(g, meeting_id, vote(g, meeting_id), protocol_number="1/2027")
    second = vote(g, meeting_id)
    # then neither another decision nor the signature can name another number
    assert_refused(
        g,
        lambda: decide(g, meeting_id, second, protocol_number="2/2027"),
        RuleViolationError,
        rule="one_protocol_per_meeting",
    )
    assert_refused(
        g,
        lambda: g.sign_protocol(META, meeting_id=meeting_id, protocol_number="2/2027"),
        RuleViolationError,
        rule="one_protocol_per_meeting",
    )
    # and the same number is fine
    decide(g, meeting_id, second, protocol_number="1/2027")
    assert len(g.meetings[meeting_id].decisions) == 2


@pytest.mark.parametrize(
    ("field", "overrides"),
    [("mechanism", {"mechanism": "magic"}), ("text", {"text": " "})],
)
def test_a_decision_with_an_unknown_mechanism_or_blank_text_is_invalid_input(
    group: Group, field: str, overrides: dict[str, str]
) -> None:
    g, _ = group
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id)
    kwargs: dict[str, Any] = {
        "decision_id": uuid4(),
        "meeting_id": meeting_id,
        "protocol_number": "1",
        "text": "Решение",
        "motion_id": motion_id,
        "mechanism": "working_groups",
        **overrides,
    }
    assert_refused(g, lambda: g.record_decision(META, **kwargs), ValidationError, field=field)


# -- signed protocols -----------------------------------------------------------------


def test_signing_records_the_chair_and_secretary_present_as_signers(group: Group) -> None:
    # given the chair and the secretary attended
    g, ids = group
    meeting_id = meeting(g)
    decide(g, meeting_id, vote(g, meeting_id), protocol_number="7/2027")
    g.collect_events()
    # when
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number="7/2027")
    # then the chair (who presided) and the secretary sign
    (event,) = g.collect_events()
    assert isinstance(event, WorkingGroup.ProtocolSigned)
    assert event.signed_by == [ids[0], ids[1]]
    m = g.meetings[meeting_id]
    assert m.signed
    assert m.signed_at == event.timestamp
    assert m.signed_by == [ids[0], ids[1]]


def test_a_protocol_is_not_signed_when_no_one_presiding_attended(group: Group) -> None:
    # given the chair is absent and there is no deputy
    g, ids = group
    meeting_id = meeting(g, ids[1:])
    decide(g, meeting_id, vote(g, meeting_id), protocol_number="7/2027")
    g.collect_events()
    # then signing is refused
    assert_refused(
        g,
        lambda: g.sign_protocol(META, meeting_id=meeting_id, protocol_number="7/2027"),
        RuleViolationError,
        rule="protocol_signatories_present",
    )


def test_a_deputy_presides_and_signs_when_the_chair_is_absent(group: Group) -> None:
    # given a deputy attends in the chair's absence
    g, ids = group
    deputy = appoint(g, position="deputy", agency="culture")
    meeting_id = meeting(g, [deputy, *ids[1:]])
    g.collect_events()
    # when
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number="8/2027")
    # then the deputy and the secretary sign
    (event,) = g.collect_events()
    assert event.signed_by == [deputy, ids[1]]


def test_a_protocol_number_is_not_used_by_two_meetings(group: Group) -> None:
    g, _ = group
    first = meeting(g)
    g.sign_protocol(META, meeting_id=first, protocol_number="1/2027")
    second = meeting(g)
    g.collect_events()
    assert_refused(
        g,
        lambda: g.sign_protocol(META, meeting_id=second, protocol_number="1/2027"),
        RuleViolationError,
        rule="protocol_number_unique",
    )


def test_a_protocol_without_decisions_is_signed_under_the_number_given(group: Group) -> None:
    g, _ = group
    meeting_id = meeting(g)
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number=" 3/2027 ")
    assert g.meetings[meeting_id].protocol_number == "3/2027"


def test_a_protocol_is_signed_only_after_attendance_is_recorded(group: Group) -> None:
    g, _ = group
    g.schedule_meeting(META, meeting_id=(meeting_id := uuid4()), held_on=DAY, agenda=AGENDA)
    assert_refused(
        g,
        lambda: g.sign_protocol(META, meeting_id=meeting_id, protocol_number="1"),
        RuleViolationError,
        rule="attendance_recorded_before_signing",
    )


def test_a_signed_protocol_never_changes(group: Group) -> None:
    # given a signed protocol with one adopted decision and one motion left undecided
    g, ids = group
    meeting_id = meeting(g)
    decide(g, meeting_id, vote(g, meeting_id))
    undecided = vote(g, meeting_id)
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number="1/2027")
    commands: list[Callable[[], object]] = [
        lambda: g.record_attendance(META, meeting_id=meeting_id, present=ids[:3]),
        lambda: vote(g, meeting_id),
        lambda: decide(g, meeting_id, undecided),
        lambda: g.sign_protocol(META, meeting_id=meeting_id, protocol_number="1/2027"),
    ]
    # then attendance, votes, decisions and a second signature are all refused
    for command in commands:
        error = assert_refused(g, command, RuleViolationError, rule="protocol_signed_immutable")
        assert "1/2027" in error.detail


def test_an_adopted_correction_at_a_later_meeting_supersedes_the_old_decision(
    group: Group,
) -> None:
    # given a signed decision
    g, _ = group
    old = signed_decision(g, protocol_number="1/2027")
    # when a later meeting adopts a decision correcting it
    new = signed_decision(g, protocol_number="2/2027", corrects=old)
    # then the old one is superseded by the new one, which is in force
    assert g.decisions[old].superseded_by == new
    assert g.decisions[new].corrects == old
    assert g.decisions[new].superseded_by is None
    # and the old protocol itself did not change
    assert g.meeting_of(old).decisions == [old]
    assert g.meeting_of(old).protocol_number == "1/2027"


def test_a_failed_correction_leaves_the_old_decision_in_force(group: Group) -> None:
    g, _ = group
    old = signed_decision(g, protocol_number="1/2027")
    new = signed_decision(g, protocol_number="2/2027", corrects=old, against=True)
    assert g.decisions[new].adopted is False
    assert g.decisions[old].superseded_by is None


def test_only_a_known_decision_still_in_force_can_be_corrected(group: Group) -> None:
    # given an old decision already corrected once
    g, _ = group
    old = signed_decision(g, protocol_number="1/2027")
    signed_decision(g, protocol_number="2/2027", corrects=old)
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id)
    # then
    assert_refused(
        g,
        lambda: decide(g, meeting_id, motion_id, corrects=old),
        RuleViolationError,
        rule="correction_of_decision_in_force",
    )
    assert_refused(
        g,
        lambda: decide(g, meeting_id, motion_id, corrects=uuid4()),
        RuleViolationError,
        rule="correction_of_known_decision",
    )


# -- action items ---------------------------------------------------------------------


def test_an_action_item_is_assigned_and_completed_once(group: Group) -> None:
    # given
    g, _ = group
    decision_id = signed_decision(g)
    item_id = uuid4()
    deadline = date(2027, 3, 1)
    # when
    g.assign_action_item(
        META,
        item_id=item_id,
        description=" Подготовить отчёт ",
        owner="Иванова М. П.",
        deadline=deadline,
        decision_id=decision_id,
    )
    # then
    item = g.action_items[item_id]
    assert (item.description, item.deadline, item.decision_id, item.done_on) == (
        "Подготовить отчёт",
        deadline,
        decision_id,
        None,
    )
    # when it is completed
    g.complete_action_item(META, item_id=item_id, done_on=date(2027, 2, 20))
    assert g.action_items[item_id].done_on == date(2027, 2, 20)
    # then completing it again is refused
    error = assert_refused(
        g,
        lambda: g.complete_action_item(META, item_id=item_id, done_on=date(2027, 2, 21)),
        RuleViolationError,
        rule="action_item_open",
    )
    assert "2027-02-20" in error.detail


def test_an_action_item_cites_an_existing_decision_and_a_new_id(group: Group) -> None:
    g, _ = group
    item_id = uuid4()
    g.assign_action_item(META, item_id=item_id, description="Без решения", owner="Я", deadline=DAY)

    def assign(item: UUID, decision_id: UUID | None) -> Callable[[], None]:
        return lambda: g.assign_action_item(
            META,
            item_id=item,
            description="Задача",
            owner="Я",
            deadline=DAY,
            decision_id=decision_id,
        )

    assert_refused(
        g, assign(uuid4(), uuid4()), RuleViolationError, rule="action_item_decision_exists"
    )
    assert_refused(g, assign(item_id, None), RuleViolationError, rule="action_item_id_unique")
    assert_refused(
        g,
        lambda: g.complete_action_item(META, item_id=uuid4(), done_on=DAY),
        RuleViolationError,
        rule="action_item_exists",
    )


# -- dissolution ----------------------------------------------------------------------


def test_a_dissolved_group_refuses_everything(group: Group) -> None:
    # given a group with an open meeting, a voted motion and an open action item
    g, ids = group
    meeting_id = meeting(g)
    motion_id = vote(g, meeting_id)
    item_id = uuid4()
    g.assign_action_item(META, item_id=item_id, description="Задача", owner="Я", deadline=DAY)
    # when it is dissolved
    g.dissolve(META, reason="Задачи выполнены")
    assert g.status is GroupStatus.DISSOLVED
    # then every command is refused
    commands: list[Callable[[], object]] = [
        lambda: appoint(g, agency="health"),
        lambda: g.dismiss_member(META, member_id=ids[4], dismissed_on=DAY, reason="Выбыл"),
        lambda: g.schedule_meeting(META, meeting_id=uuid4(), held_on=DAY, agenda=AGENDA),
        lambda: g.record_attendance(META, meeting_id=meeting_id, present=ids),
        lambda: vote(g, meeting_id),
        lambda: decide(g, meeting_id, motion_id),
        lambda: g.sign_protocol(META, meeting_id=meeting_id, protocol_number="1"),
        lambda: g.assign_action_item(
            META, item_id=uuid4(), description="Ещё", owner="Я", deadline=DAY
        ),
        lambda: g.complete_action_item(META, item_id=item_id, done_on=DAY),
        lambda: g.dissolve(META, reason="Ещё раз"),
    ]
    for command in commands:
        assert_refused(g, command, RuleViolationError, rule="group_active")


def test_dissolving_needs_a_reason(group: Group) -> None:
    g, _ = group
    assert_refused(g, lambda: g.dissolve(META, reason=""), ValidationError, field="reason")


# -- replay and storage ---------------------------------------------------------------


def eventful_group() -> WorkingGroup:
    """A group that went through every kind of event, none of them collected."""
    g = establish()
    ids = [
        appoint(g, position="chair", agency="education"),
        appoint(g, position="secretary", agency="sport"),
    ]
    ids += [appoint(g) for _ in range(3)]
    g.dismiss_member(META, member_id=ids[4], dismissed_on=DAY, reason="Перевод")
    old = signed_decision(
        g,
        targets=[
            DecisionTarget(TargetKind.PROJECT_GATE, project_id=uuid4(), stage=FIRST),
            DecisionTarget(TargetKind.DELIVERABLE_APPROVAL, deliverable_id=uuid4()),
            DecisionTarget(TargetKind.ASSIGNMENT_REDISTRIBUTION, redistribution_ref="R-1"),
        ],
    )
    new = signed_decision(g, protocol_number="2/2027", corrects=old)
    g.assign_action_item(
        META, item_id=(item := uuid4()), description="Отчёт", owner="Я", deadline=DAY
    )
    g.assign_action_item(
        META, item_id=uuid4(), description="Ещё", owner="Я", deadline=DAY, decision_id=new
    )
    g.complete_action_item(META, item_id=item, done_on=DAY)
    g.dissolve(META, reason="Задачи выполнены")
    return g


def test_replaying_the_recorded_events_rebuilds_the_same_group() -> None:
    g = eventful_group()
    events = list(g.collect_events())
    rebuilt = replay(events)
    assert rebuilt.version == g.version == len(events)
    assert (rebuilt.members, rebuilt.meetings) == (g.members, g.meetings)
    assert (rebuilt.decisions, rebuilt.action_items) == (g.decisions, g.action_items)
    assert rebuilt == g


def test_every_group_event_survives_a_round_trip_through_the_stored_form(
    mapper: Mapper[Any],
) -> None:
    # given events of every type of the group and of the decision index
    g = eventful_group()
    events = [
        *g.collect_events(),
        *DecisionIndex.index(META, decision_id=uuid4(), group_id=g.id).collect_events(),
    ]
    types = {
        name
        for name, value in vars(WorkingGroup).items()
        if isinstance(value, type) and issubclass(value, DomainAggregate.Event)
    } - {"Event", "Created"}
    assert set(event_names(events)) == {*types, "DecisionIndexed"}
    # when each is stored and read back, then it is equal field by field
    for event in events:
        restored = mapper.to_domain_event(mapper.to_stored_event(event))
        assert type(restored) is type(event)
        assert vars(restored) == vars(event)
    # and the group replayed from the stored form is the same
    restored_group = replay(
        [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events[:-1]]
    )
    assert restored_group == g


def test_a_decision_index_id_is_derived_from_the_decision_id_alone() -> None:
    decision_id, group_id = uuid4(), uuid4()
    ix = DecisionIndex.index(META, decision_id=decision_id, group_id=group_id)
    assert ix.id == DecisionIndex.id_for(decision_id) == DecisionIndex.id_for(decision_id)
    assert DecisionIndex.id_for(uuid4()) != ix.id
    assert (ix.decision_id, ix.group_id) == (decision_id, group_id)


# -- decisions authorising commands on projects -----------------------------------------


def authorises(
    g: WorkingGroup | None,
    decision_id: UUID,
    p: InteragencyProject,
    kind: TargetKind = TargetKind.PROJECT_GATE,
    **kwargs: Any,
) -> Callable[[], object]:
    return lambda: check_decision_authorises(
        g, decision_id, project_id=p.id, municipality=p.municipality, kind=kind, **kwargs
    )


def refused_with(rule: str, command: Callable[[], object]) -> RuleViolationError:
    with pytest.raises(RuleViolationError) as caught:
        command()
    assert caught.value.rule == rule
    return caught.value


def test_a_signed_adopted_decision_of_the_projects_municipality_authorises(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    decision_id = signed_decision(g)
    decision = authorises(g, decision_id, project, stage=FIRST)()
    assert decision is g.decisions[decision_id]


def test_an_unknown_decision_or_a_missing_group_does_not_exist(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    decision_id = signed_decision(g)
    refused_with("decision_exists", authorises(None, decision_id, project))
    error = refused_with("decision_exists", authorises(g, uuid4(), project))
    assert "no decision" in error.detail


def test_a_decision_on_a_failed_motion_does_not_authorise(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    decision_id = signed_decision(g, against=True)
    refused_with("decision_adopted", authorises(g, decision_id, project))


def test_a_corrected_decision_does_not_authorise_but_its_correction_does(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    old = signed_decision(g, protocol_number="1/2027")
    new = signed_decision(g, protocol_number="2/2027", corrects=old)
    error = refused_with("decision_in_force", authorises(g, old, project))
    assert str(new) in error.detail
    assert authorises(g, new, project)() is g.decisions[new]


def test_a_decision_whose_protocol_is_not_signed_does_not_authorise(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    meeting_id = meeting(g)
    decision_id = decide(g, meeting_id, vote(g, meeting_id), protocol_number="5/2027")
    error = refused_with("decision_protocol_signed", authorises(g, decision_id, project))
    assert "5/2027" in error.detail
    # once signed, it does
    g.sign_protocol(META, meeting_id=meeting_id, protocol_number="5/2027")
    assert authorises(g, decision_id, project)() is g.decisions[decision_id]


def test_a_project_scoped_group_authorises_its_project_only(
    project: InteragencyProject,
) -> None:
    # given a group serving one project, and another project of the same municipality
    g, _ = staffed(project_id=project.id)
    decision_id = signed_decision(g)
    other = initiate()
    # then
    assert authorises(g, decision_id, project)() is g.decisions[decision_id]
    error = refused_with("decision_group_covers_project", authorises(g, decision_id, other))
    assert str(other.id) in error.detail


def test_a_municipality_group_authorises_projects_of_its_municipality_only(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    decision_id = signed_decision(g)
    elsewhere = initiate(municipality="Другой район")
    assert authorises(g, decision_id, project)() is g.decisions[decision_id]
    refused_with("decision_group_covers_project", authorises(g, decision_id, elsewhere))


def test_a_decision_without_targets_authorises_any_action_in_its_groups_scope(
    group: Group, project: InteragencyProject
) -> None:
    g, _ = group
    decision_id = signed_decision(g, targets=None)
    for kind in TargetKind:
        for stage in (None, *STAGES):
            assert authorises(g, decision_id, project, kind, stage=stage)() is not None
    assert authorises(
        g, decision_id, project, TargetKind.DELIVERABLE_APPROVAL, deliverable_id=uuid4()
    )()


@pytest.mark.parametrize(
    ("target", "kind", "check"),
    [
        pytest.param(
            {"kind": TargetKind.DELIVERABLE_APPROVAL},
            TargetKind.PROJECT_GATE,
            {"stage": FIRST},
            id="kind",
        ),
        pytest.param(
            {"kind": TargetKind.PROJECT_GATE, "project_id": uuid4()},
            TargetKind.PROJECT_GATE,
            {"stage": FIRST},
            id="project",
        ),
        pytest.param(
            {"kind": TargetKind.PROJECT_GATE, "stage": SECOND},
            TargetKind.PROJECT_GATE,
            {"stage": FIRST},
            id="stage",
        ),
        pytest.param(
            {"kind": TargetKind.DELIVERABLE_APPROVAL, "deliverable_id": uuid4()},
            TargetKind.DELIVERABLE_APPROVAL,
            {"stage": FIRST, "deliverable_id": uuid4()},
            id="deliverable",
        ),
    ],
)
def test_a_decision_naming_its_targets_authorises_nothing_else(
    group: Group,
    project: InteragencyProject,
    target: dict[str, Any],
    kind: TargetKind,
    check: dict[str, Any],
) -> None:
    g, _ = group
    decision_id = signed_decision(g, targets=[DecisionTarget(**target)])
    error = refused_with(
        "decision_targets_match", authorises(g, decision_id, project, kind, **check)
    )
    assert kind.value.replace("_", " ") in error.detail


def test_a_decision_authorises_what_any_one_of_its_targets_names(
    group: Group, project: InteragencyProject
) -> None:
    # given a decision naming the second gate of this project and a deliverable of any project
    g, _ = group
    deliverable_id = uuid4()
    decision_id = signed_decision(
        g,
        targets=[
            DecisionTarget(TargetKind.PROJECT_GATE, project_id=project.id, stage=SECOND),
            DecisionTarget(TargetKind.DELIVERABLE_APPROVAL, deliverable_id=deliverable_id),
        ],
    )
    # then both are authorised, and a gate with no stage named is too
    gate = authorises(g, decision_id, project, TargetKind.PROJECT_GATE, stage=SECOND)
    approval = authorises(
        g, decision_id, project, TargetKind.DELIVERABLE_APPROVAL, deliverable_id=deliverable_id
    )
    assert gate() is approval() is g.decisions[decision_id]
    assert authorises(g, decision_id, project, TargetKind.PROJECT_GATE)()
    refused_with(
        "decision_targets_match",
        authorises(g, decision_id, project, TargetKind.ASSIGNMENT_REDISTRIBUTION),
    )


# -- projects citing a decision ---------------------------------------------------------


def test_a_cited_decision_is_a_basis_for_passing_a_gate(project: InteragencyProject) -> None:
    # given the first stage's deliverable approved, and no other basis
    approve(project, plan(project))
    project.collect_events()
    decision_id = uuid4()
    # when the gate passes citing the decision
    project.pass_gate(META, reason="Этап выполнен", decision_id=decision_id)
    # then the event and the stage record it, also as the decision reference
    (passed,) = project.collect_events()
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert passed.decision_id == decision_id
    assert passed.meta.decision_ref == str(decision_id)
    assert passed.meta.basis_document is None
    first = project.stages[FIRST]
    assert first.gate_decision_id == decision_id
    assert first.gate_basis is not None
    assert first.gate_basis["decision_ref"] == str(decision_id)
    assert project.active_stage is SECOND


def test_a_given_decision_reference_is_kept_next_to_the_cited_decision(
    project: InteragencyProject,
) -> None:
    approve(project, plan(project))
    project.collect_events()
    decision_id = uuid4()
    project.pass_gate(
        META, reason="Этап выполнен", decision_ref="Протокол №1", decision_id=decision_id
    )
    (passed,) = project.collect_events()
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert (passed.decision_id, passed.meta.decision_ref) == (decision_id, "Протокол №1")


def test_a_gate_without_a_cited_decision_records_none(project: InteragencyProject) -> None:
    approve(project, plan(project))
    project.collect_events()
    project.pass_gate(META, reason="Этап выполнен", basis_document="Приказ №12")
    (passed,) = project.collect_events()
    assert isinstance(passed, InteragencyProject.StageGatePassed)
    assert passed.decision_id is None
    assert project.stages[FIRST].gate_decision_id is None


def test_an_approval_citing_a_decision_records_it(project: InteragencyProject) -> None:
    # given a submitted deliverable
    deliverable_id = plan(project)
    project.submit_deliverable(META, deliverable_id=deliverable_id)
    project.collect_events()
    decision_id = uuid4()
    # when
    project.approve_deliverable(META, deliverable_id=deliverable_id, decision_id=decision_id)
    # then
    (approved,) = project.collect_events()
    assert isinstance(approved, InteragencyProject.DeliverableApproved)
    assert approved.decision_id == decision_id
    assert approved.meta.decision_ref == str(decision_id)
    assert project.deliverables[deliverable_id].approved_by_decision == decision_id


def test_a_decision_authorises_the_gate_of_the_stage_it_names(project: InteragencyProject) -> None:
    # given a group serving this project, whose signed decision names the first gate
    g, _ = staffed(project_id=project.id)
    decision_id = signed_decision(
        g, targets=[DecisionTarget(TargetKind.PROJECT_GATE, project_id=project.id, stage=FIRST)]
    )
    approve(project, plan(project))
    # when the application's check passes and the gate passes citing it
    assert project.active_stage is Stage.SOCIAL_TIES_PROGRAM
    check_decision_authorises(
        g,
        decision_id,
        project_id=project.id,
        municipality=project.municipality,
        kind=TargetKind.PROJECT_GATE,
        stage=project.active_stage,
    )
    project.pass_gate(META, reason="Решение группы", decision_id=decision_id)
    # then the same decision does not authorise the next gate
    refused_with(
        "decision_targets_match",
        authorises(g, decision_id, project, stage=project.active_stage),
    )
    assert project.stages[FIRST].gate_decision_id == decision_id


def test_every_group_event_carries_the_meta_it_was_given(group: Group) -> None:
    # given
    g, _ = group
    other = EventMeta("secretary-2", "official", "sport", correlation_id="req-9")
    # when
    meeting_id = meeting(g, meta=other)
    vote(g, meeting_id, meta=other)
    # then
    events = g.collect_events()
    assert event_names(events) == ["MeetingScheduled", "AttendanceRecorded", "MotionVoted"]
    assert all(e.meta == other for e in events)  # type: ignore[attr-defined]
