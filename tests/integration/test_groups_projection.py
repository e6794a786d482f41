"""The groups view on a real PostgreSQL: rows right after commands, dismissals, rebuilds.

The session worker follows the log; tests wait on the tracking position (never a sleep)
and compare the rows with what the WorkingGroup aggregate itself says.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from domain.errors import RuleViolationError
from domain.project import Stage
from domain.values import EventMeta
from domain.working_group import DecisionTarget, TargetKind, WorkingGroup
from interagency.application import CommandResult, InteragencyApplication
from interagency.services import Services
from projections.runtime import ProjectionWorker, Projector
from tests.conftest import wait_projected

META = EventMeta(
    actor_id="secretary-1", actor_role="official", actor_agency="culture", correlation_id="t"
)
AGENCIES = ["education", "culture", "sport", "health", "youth_policy", "social_policy"]


class Builder:
    """Writes through the application; remembers the last write's position."""

    def __init__(self, app: InteragencyApplication, kind: str = "interagency", **kw: Any) -> None:
        self.app = app
        self.last = app.establish_group(
            META,
            kind=kind,
            name=f"Group {uuid4().hex[:6]}",
            basis_act="Order No. 12",
            municipality=kw.pop("municipality", None) or town(),
            **kw,
        )
        self.id = self.last.aggregate_id
        self.members: list[UUID] = []

    def appoint(self, agency: str, position: str = "member", voting: bool = True) -> UUID:
        mid = uuid4()
        self.last = self.app.appoint_member(
            META,
            self.id,
            member_id=mid,
            person=f"Person {len(self.members)}",
            organization=f"Office of {agency}",
            agency=agency,
            position=position,
            voting=voting,
            appointed_on=date(2027, 1, 10),
        )
        self.members.append(mid)
        return mid

    def dismiss(self, member_id: UUID, on: date = date(2027, 1, 31)) -> None:
        self.last = self.app.dismiss_member(
            META, self.id, member_id, dismissed_on=on, reason="Left the office"
        )

    def meeting(self, present: list[UUID], held_on: date = date(2027, 2, 3)) -> UUID:
        mid = uuid4()
        self.last = self.app.schedule_meeting(
            META, self.id, meeting_id=mid, held_on=held_on, agenda=["Plan", "Other"]
        )
        self.last = self.app.record_attendance(META, self.id, mid, present=present)
        return mid

    def vote(self, mid: UUID, votes: dict[UUID, str], item: str = "1") -> UUID:
        motion_id = uuid4()
        self.last = self.app.vote_on_motion(
            META,
            self.id,
            mid,
            motion_id=motion_id,
            agenda_item=item,
            text=f"Motion on item {item}",
            votes=votes,
        )
        return motion_id

    def decide(self, mid: UUID, motion_id: UUID, protocol: str = "1", **kw: Any) -> UUID:
        decision_id = uuid4()
        self.last = self.app.record_decision(
            META,
            self.id,
            mid,
            decision_id=decision_id,
            protocol_number=protocol,
            text=kw.pop("text", "The group decided"),
            motion_id=motion_id,
            mechanism=kw.pop("mechanism", "working_groups"),
            **kw,
        )
        return decision_id

    def sign(self, mid: UUID, protocol: str = "1") -> None:
        self.last = self.app.sign_protocol(META, self.id, mid, protocol_number=protocol)

    def settled(self, services: Services) -> WorkingGroup:
        """The aggregate, once every view has processed the last write."""
        wait_projected(services, self.last.position)
        return self.app.get_group(self.id)


def town() -> str:
    return f"Town {uuid4().hex[:10]}"


def at_head(services: Services) -> None:
    wait_projected(services, services.app.head_position())


def meeting_row(services: Services, gid: UUID, mid: UUID) -> dict[str, Any]:
    return next(r for r in services.groups.meetings(gid) if r["meeting_id"] == mid)


def expected_meeting_stats(g: WorkingGroup, mid: UUID) -> dict[str, Any]:
    """What the meetings view should say, from the aggregate (members current now)."""
    current = g.current_members()
    voting = [m for m in current if m.voting]
    present = g.meetings[mid].present
    present_voting = sum(m.id in present for m in voting)
    needed = g.quorum.needed(len(voting))
    total = len(current)
    rate = Decimal(0) if total == 0 else Decimal(100 * sum(m.id in present for m in current))
    return {
        "members_total": total,
        "voting_members": len(voting),
        "present": sum(m.id in present for m in current),
        "present_voting": present_voting,
        "quorum_needed": needed,
        "quorum_met": present_voting >= needed,
        "attendance_rate": (rate / max(total, 1)).quantize(Decimal("0.1")),
    }


def stats_of(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "members_total",
        "voting_members",
        "present",
        "present_voting",
        "quorum_needed",
        "quorum_met",
        "attendance_rate",
    )
    return {k: row[k] for k in keys}


# -- rows right after each command -----------------------------------------------------------


def test_the_group_row_follows_every_command_at_the_version_it_answered(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    b = Builder(app)
    steps: list[CommandResult] = [b.last]
    chair = b.appoint("education", "chair")
    steps.append(b.last)
    secretary = b.appoint("culture", "secretary")
    steps.append(b.last)
    mid = b.meeting([chair, secretary])
    steps.append(b.last)
    motion = b.vote(mid, {chair: "for", secretary: "abstain"})
    steps.append(b.last)
    decision = b.decide(mid, motion)
    steps.append(b.last)
    b.sign(mid)
    steps.append(b.last)

    for step in steps:
        wait_projected(services, step.position)
        row = services.groups.get_group(b.id)
        assert row is not None
        assert row["version"] >= step.version
    row = services.groups.get_group(b.id)
    assert row is not None
    assert row["version"] == app.get_group(b.id).version == steps[-1].version
    assert (row["quorum"], row["status"]) == ("> 1/2", "active")
    d = services.groups.get_decision(decision)
    assert d is not None
    assert (d["votes_for"], d["abstentions"], d["adopted"], d["signed"]) == (1, 1, True, True)

    app.dissolve_group(META, b.id, reason="Its task is done")
    at_head(services)
    row = services.groups.get_group(b.id)
    assert row is not None
    assert row["status"] == "dissolved"
    assert row["dissolved_at"] is not None


def test_the_register_rows_say_what_the_aggregate_says_about_each_decision(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    municipality = town()
    pid = app.initiate_project(
        META,
        title="Museum lessons",
        goal="Lessons in the museum",
        municipality=municipality,
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id
    b = Builder(app, municipality=municipality)
    chair, secretary, member = (
        b.appoint("education", "chair"),
        b.appoint("culture", "secretary"),
        b.appoint("sport"),
    )
    everyone = [chair, secretary, member]
    target = [DecisionTarget(TargetKind.PROJECT_GATE, pid, Stage.SOCIAL_TIES_PROGRAM)]
    m1 = b.meeting(everyone)
    old = b.decide(m1, b.vote(m1, dict.fromkeys(everyone, "for")), targets=target)
    failed = b.decide(m1, b.vote(m1, {chair: "for", secretary: "against", member: "against"}, "2"))
    b.sign(m1)
    m2 = b.meeting(everyone, held_on=date(2027, 3, 3))
    new = b.decide(
        m2, b.vote(m2, dict.fromkeys(everyone, "for")), "2", targets=target, corrects=old
    )
    g = b.settled(services)

    rows, total = services.groups.decisions(group_id=b.id)
    assert total == 3
    assert [r["decision_id"] for r in rows] == [old, failed, new]
    for r in rows:
        d = g.decisions[r["decision_id"]]
        motion = g.meetings[d.meeting_id].motions[d.motion_id]
        assert r["adopted"] is d.adopted is motion.adopted
        assert r["superseded_by"] == d.superseded_by
        assert r["corrects"] == d.corrects
        assert r["signed"] is g.meetings[d.meeting_id].signed
        assert r["votes"] == {str(k): v.value for k, v in motion.votes.items()}
        assert r["held_on"] == g.meetings[d.meeting_id].held_on
        assert r["project_ids"] == ([pid] if d.targets else [])
    assert g.decisions[old].superseded_by == new
    assert [r["signed"] for r in rows] == [True, True, False]
    meetings = {r["meeting_id"]: r for r in services.groups.meetings(b.id)}
    assert (meetings[m1]["motions"], meetings[m1]["decisions"]) == (2, 2)
    assert meetings[m2]["signed_at"] is None


# -- meeting statistics and dismissals -----------------------------------------------------------


def test_members_dismissed_before_a_meeting_do_not_count_in_its_statistics(
    services: Services, worker: ProjectionWorker
) -> None:
    app = services.app
    b = Builder(app)
    chair = b.appoint("education", "chair")
    secretary = b.appoint("culture", "secretary")
    sport = b.appoint("sport")
    teacher = b.appoint("education")
    doctor = b.appoint("health", voting=False)
    youth = b.appoint("youth_policy")
    # Two leave before the meeting: a voting and a non-voting member.
    b.dismiss(teacher)
    b.dismiss(doctor)

    mid = b.meeting([chair, secretary, sport])
    g = b.settled(services)

    row = meeting_row(services, b.id, mid)
    assert stats_of(row) == {
        "members_total": 4,
        "voting_members": 4,
        "present": 3,
        "present_voting": 3,
        "quorum_needed": 3,
        "quorum_met": True,
        "attendance_rate": Decimal("75.0"),
    }
    assert stats_of(row) == expected_meeting_stats(g, mid)
    # The vote the aggregate allows agrees with the row.
    b.vote(mid, {chair: "for", secretary: "for", sport: "against"})
    motion = next(iter(b.settled(services).meetings[mid].motions.values()))
    assert (motion.voting_members, motion.present_voting, motion.quorum_needed) == (4, 3, 3)
    roster = services.groups.roster(b.id)
    assert {r["member_id"] for r in roster} == {chair, secretary, sport, youth}

    # A dismissal after the meeting does not rewrite it; the next meeting counts it.
    b.dismiss(youth, date(2027, 2, 10))
    later = b.meeting([chair, secretary], held_on=date(2027, 2, 17))
    b.settled(services)
    assert stats_of(meeting_row(services, b.id, mid)) == stats_of(row)
    assert stats_of(meeting_row(services, b.id, later)) == {
        "members_total": 3,
        "voting_members": 3,
        "present": 2,
        "present_voting": 2,
        "quorum_needed": 2,
        "quorum_met": True,
        "attendance_rate": Decimal("66.7"),
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No shrinking: each example is a dozen round trips to PostgreSQL.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    roster=st.lists(st.tuples(st.sampled_from(AGENCIES), st.booleans()), min_size=2, max_size=9),
    dismissed=st.sets(st.integers(0, 8), max_size=4),
    present=st.sets(st.integers(0, 8)),
)
# Everyone dismissed: the meeting has no members at all (it once counted one).
@example(roster=[("culture", False), ("culture", True)], dismissed={0, 1}, present={0, 1})
def test_meeting_statistics_agree_with_the_aggregate_for_any_roster_and_attendance(
    services: Services,
    worker: ProjectionWorker,
    roster: list[tuple[str, bool]],
    dismissed: set[int],
    present: set[int],
) -> None:
    b = Builder(services.app, kind="working")
    members = [b.appoint(agency, voting=voting) for agency, voting in roster]
    for i in sorted(dismissed):
        if i < len(members):
            b.dismiss(members[i])
    gone = {members[i] for i in dismissed if i < len(members)}
    attending = [members[i] for i in sorted(present) if i < len(members)]
    attending = [m for m in attending if m not in gone]

    mid = b.meeting(attending)
    g = b.settled(services)

    assert stats_of(meeting_row(services, b.id, mid)) == expected_meeting_stats(g, mid)
    # Where the row says quorum is met the aggregate accepts the vote, and elsewhere
    # refuses it for that very reason.
    voters = {m: "for" for m in attending if g.members[m].voting}
    if meeting_row(services, b.id, mid)["quorum_met"]:
        b.vote(mid, voters)
    else:
        with pytest.raises(RuleViolationError) as caught:
            b.vote(mid, voters)
        assert caught.value.rule == "quorum"


# -- rebuilds ------------------------------------------------------------------------------------


def some_group_history(services: Services) -> None:
    """Every kind of group event, across a few groups."""
    app = services.app
    municipality = town()
    pid = app.initiate_project(
        META,
        title="Rebuild",
        goal="Be rebuilt",
        municipality=municipality,
        lead_agency="education",
        agencies=["education", "culture"],
    ).aggregate_id
    b = Builder(app, municipality=municipality)
    chair = b.appoint("education", "chair")
    secretary = b.appoint("culture", "secretary")
    sport = b.appoint("sport")
    doctor = b.appoint("health", voting=False)
    gone = b.appoint("youth_policy")
    b.dismiss(gone)
    target = [DecisionTarget(TargetKind.PROJECT_GATE, pid, Stage.SOCIAL_TIES_PROGRAM)]
    m1 = b.meeting([chair, secretary, doctor, sport])
    votes = {chair: "for", secretary: "for", sport: "abstain"}
    old = b.decide(m1, b.vote(m1, votes), targets=target, text="Rebuilt decision")
    b.decide(m1, b.vote(m1, {chair: "against", secretary: "against", sport: "for"}, "2"))
    b.sign(m1)
    # A meeting without quorum: attended, nothing voted.
    m2 = b.meeting([chair], held_on=date(2027, 3, 1))
    with pytest.raises(RuleViolationError):
        b.vote(m2, {chair: "for"})
    m3 = b.meeting([chair, secretary, sport], held_on=date(2027, 4, 1))
    b.decide(m3, b.vote(m3, dict.fromkeys((chair, secretary, sport), "for")), "3", corrects=old)
    item = uuid4()
    b.last = app.assign_action_item(
        META, b.id, item_id=item, description="Report", owner="Culture", deadline=date(2027, 5, 1)
    )
    b.last = app.assign_action_item(
        META,
        b.id,
        item_id=uuid4(),
        description="Follow up",
        owner="Sport",
        deadline=date(2027, 5, 2),
        decision_id=old,
    )
    app.complete_action_item(META, b.id, item, done_on=date(2027, 4, 20))
    scoped = Builder(app, kind="working", municipality=municipality, project_id=pid)
    scoped.appoint("education", "chair")
    app.dissolve_group(META, scoped.id, reason="Merged into the interagency group")


def test_a_rebuild_of_the_groups_view_from_zero_gives_identical_rows(
    services: Services, worker: ProjectionWorker
) -> None:
    some_group_history(services)
    at_head(services)
    before = services.groups.dump()
    assert all(before.values()), {t: len(rows) for t, rows in before.items()}

    projector = services.projector("groups")
    projector.reset()
    projector.catch_up()
    at_head(services)

    assert services.groups.dump() == before


def test_a_rebuild_of_the_groups_view_in_small_batches_gives_identical_rows(
    services: Services, worker: ProjectionWorker
) -> None:
    some_group_history(services)
    at_head(services)
    before = services.groups.dump()
    head = services.app.head_position()
    small = Projector(services.groups, services.app.pg_recorder, services.app.mapper, 3)

    small.reset()
    while small.run_batch().position < head:
        pass
    at_head(services)

    assert services.groups.dump() == before
