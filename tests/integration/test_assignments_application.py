"""Municipal assignments through the application, on PostgreSQL: atomic redistribution."""

from __future__ import annotations

import threading
import uuid
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.assignment import Leg, MunicipalAssignment
from domain.errors import ConcurrencyConflictError, RuleViolationError, ValidationError
from domain.values import EventMeta
from domain.working_group import DecisionTarget, TargetKind
from interagency.services import Services
from projections.runtime import ProjectionWorker
from tests.conftest import wait_projected
from tests.organization_helpers import register_organization

META = EventMeta(actor_id="founder-1", actor_role="official", actor_agency="education")
SERVICE = "804200О.99.0.ББ52АЖ48000"
YEAR = 2027


def draft(
    services: Services,
    *,
    founder: str = "Управление образования",
    volume: str = "1000",
    cost: str = "150.00",
    municipality: str | None = None,
) -> UUID:
    result = services.app.draft_assignment(
        META,
        organization_id=register_organization(services.app),
        institution=f"ЦДО {uuid.uuid4().hex[:6]}",
        agency="education",
        founder=founder,
        municipality=municipality or f"Town {uuid.uuid4().hex[:6]}",
        fiscal_year=YEAR,
        lines=[
            {
                "registry_number": SERVICE,
                "service_name": "Реализация дополнительных общеразвивающих программ",
                "unit": "person_hours",
                "planned": {str(YEAR): volume, str(YEAR + 1): volume},
                "allowed_deviation_pct": "5",
                "normative_cost": cost,
            }
        ],
    )
    services.app.approve_assignment(META, result.aggregate_id, basis_document="Приказ № 1")
    return result.aggregate_id


def planned(services: Services, assignment_id: UUID) -> Decimal:
    return services.app.get_assignment(assignment_id).lines["1"].planned[YEAR]


def test_a_redistribution_moves_volume_and_recalculates_each_subsidy_at_its_own_cost(
    services: Services,
) -> None:
    # given two institutions of one founder with different normative costs
    a = draft(services, volume="1000", cost="150.00")
    b = draft(services, volume="400", cost="120.00")
    # when 250 person-hours move from a to b
    result = services.app.redistribute(
        META,
        legs=[Leg(a, Decimal("-250")), Leg(b, Decimal("250"))],
        registry_number=SERVICE,
        unit="person_hours",
        year=YEAR,
    )
    # then both volumes changed, the total is the same, each subsidy follows its own cost
    assert (planned(services, a), planned(services, b)) == (Decimal(750), Decimal(650))
    record = services.app.get_redistribution(result.aggregate_id)
    assert [leg["subsidy_delta"] for leg in record.legs] == ["-37500.00", "30000.00"]
    assert services.app.get_assignment(a).subsidy(YEAR) == Decimal("112500.00")
    # and the record, and both legs, are in the log at consecutive positions
    assert result.position == services.app.head_position()


@pytest.mark.parametrize(
    ("deltas", "rule"),
    [
        (("-1500", "1500"), "volume_never_negative"),
        (("-100", "90"), "volume_conserved"),
        (("100", "50"), "redistribution_has_both_sides"),
    ],
)
def test_a_refused_redistribution_writes_nothing(
    services: Services, deltas: tuple[str, str], rule: str
) -> None:
    a, b = draft(services), draft(services)
    versions = (services.app.get_assignment(a).version, services.app.get_assignment(b).version)
    head = services.app.head_position()
    with pytest.raises(RuleViolationError) as caught:
        services.app.redistribute(
            META,
            legs=[Leg(a, Decimal(deltas[0])), Leg(b, Decimal(deltas[1]))],
            registry_number=SERVICE,
            unit="person_hours",
            year=YEAR,
        )
    assert caught.value.rule == rule
    assert services.app.head_position() == head
    assert (
        services.app.get_assignment(a).version,
        services.app.get_assignment(b).version,
    ) == versions
    assert (planned(services, a), planned(services, b)) == (Decimal(1000), Decimal(1000))


def test_a_cross_founder_redistribution_needs_the_budget_basis(services: Services) -> None:
    school = draft(services, founder="Управление образования")
    museum = draft(services, founder="Отдел культуры")
    head = services.app.head_position()
    legs = [Leg(school, Decimal("-100")), Leg(museum, Decimal("100"))]
    with pytest.raises(RuleViolationError) as caught:
        services.app.redistribute(
            META, legs=legs, registry_number=SERVICE, unit="person_hours", year=YEAR
        )
    assert caught.value.rule == "cross_founder_needs_budget_basis"
    assert services.app.head_position() == head
    result = services.app.redistribute(
        META,
        legs=legs,
        registry_number=SERVICE,
        unit="person_hours",
        year=YEAR,
        budget_basis="Решение о перераспределении бюджетных ассигнований № 45",
    )
    record = services.app.get_redistribution(result.aggregate_id)
    assert record.cross_founder
    assert record.budget_basis == "Решение о перераспределении бюджетных ассигнований № 45"


def test_a_deviation_beyond_the_allowed_one_needs_a_reason(services: Services) -> None:
    a = draft(services, volume="1000")
    head = services.app.head_position()
    # q1 plans 250 person-hours; 200 deviates by -20 %, beyond the allowed 5 %
    with pytest.raises(RuleViolationError) as caught:
        services.app.report_execution(
            META, a, report_id=uuid.uuid4(), period="q1", actual={"1": Decimal(200)}
        )
    assert caught.value.rule == "deviation_needs_reason"
    assert "-20.00%" in caught.value.detail
    assert services.app.head_position() == head
    services.app.report_execution(
        META,
        a,
        report_id=uuid.uuid4(),
        period="q1",
        actual={"1": Decimal(200)},
        reasons={"1": "Карантин в феврале"},
    )
    (report,) = services.app.get_assignment(a).reports.values()
    assert report.beyond_tolerance == ["1"]
    assert report.deviation["1"] == Decimal("-20.00")


def test_an_unknown_unit_is_bad_input(services: Services) -> None:
    with pytest.raises(ValidationError):
        services.app.draft_assignment(
            META,
            organization_id=register_organization(services.app),
            institution="I",
            agency="education",
            founder="F",
            municipality="M",
            fiscal_year=YEAR,
            lines=[
                {
                    "registry_number": SERVICE,
                    "service_name": "S",
                    "unit": "hours",
                    "planned": {str(YEAR): "1"},
                    "normative_cost": "1",
                }
            ],
        )


def test_concurrent_redistributions_on_one_assignment_never_lose_an_update(
    services: Services,
) -> None:
    # given one source assignment and eight destinations
    source = draft(services, volume="10000")
    targets = [draft(services, volume="0") for _ in range(8)]
    successes: list[UUID] = []
    conflicts = 0
    lock = threading.Lock()

    for _ in range(5):
        barrier = threading.Barrier(len(targets))

        def move(target: UUID, barrier: threading.Barrier = barrier) -> None:
            nonlocal conflicts
            barrier.wait()
            try:
                services.app.redistribute(
                    META,
                    legs=[Leg(source, Decimal("-10")), Leg(target, Decimal("10"))],
                    registry_number=SERVICE,
                    unit="person_hours",
                    year=YEAR,
                )
            except ConcurrencyConflictError:
                with lock:
                    conflicts += 1
            else:
                with lock:
                    successes.append(target)

        threads = [threading.Thread(target=move, args=(t,)) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # then every accepted move is in both assignments, and nothing else is
    assert conflicts > 0, "the threads never raced; the test proved nothing"
    assert planned(services, source) == Decimal(10000) - 10 * len(successes)
    for target in targets:
        assert planned(services, target) == 10 * successes.count(target)
    total = planned(services, source) + sum(planned(services, t) for t in targets)
    assert total == Decimal(10000)
    source_events = services.app.history(source)
    legs = [
        e for e in source_events if isinstance(e.event, MunicipalAssignment.VolumeRedistributed)
    ]
    assert len(legs) == len(successes)
    assert [e.version for e in source_events] == list(range(1, len(source_events) + 1))


def test_the_register_dashboard_and_log_follow_reports_and_redistributions(
    services: Services, worker: ProjectionWorker
) -> None:
    # given two institutions in one town, one under-executing beyond tolerance
    town = f"Town {uuid.uuid4().hex[:6]}"
    a = draft(services, volume="1000", cost="100.00", municipality=town)
    b = draft(services, volume="600", cost="80.00", municipality=town)
    services.app.report_execution(
        META,
        a,
        report_id=uuid.uuid4(),
        period="h1",
        actual={"1": Decimal(400)},
        reasons={"1": "Ремонт здания"},
    )
    # when 100 person-hours move from a to b
    moved = services.app.redistribute(
        META,
        legs=[Leg(a, Decimal("-100")), Leg(b, Decimal("100"))],
        registry_number=SERVICE,
        unit="person_hours",
        year=YEAR,
    )
    wait_projected(services, moved.position)
    view = services.assignments
    # then the register shows plan (initial and now), actual and deviation per institution
    rows, total = view.register(municipality=town)
    assert total == 2
    by_id = {r["assignment_id"]: r for r in rows}
    assert (by_id[a]["planned_initial"], by_id[a]["planned"]) == (Decimal(1000), Decimal(900))
    assert (by_id[b]["planned_initial"], by_id[b]["planned"]) == (Decimal(600), Decimal(700))
    assert by_id[a]["actual"] == Decimal(400)
    assert by_id[a]["deviation_pct"] == Decimal("-20.00")
    assert by_id[a]["status"] == "amended"
    assert by_id[b]["subsidy"] == Decimal("56000.00")
    # and the dashboard lists a, with the subsidy at risk: (500 * 0.95 - 400) * 100
    (risky,), total, at_risk = view.outside_tolerance(municipality=town)
    assert risky["assignment_id"] == a
    assert risky["subsidy_at_risk"] == at_risk == Decimal("7500.00")
    assert total == 1
    # and the log shows the move with both legs and their subsidy effect
    logged = {r["redistribution_id"]: r for r in view.redistributions(limit=200)[0]}
    entry = logged[moved.aggregate_id]
    assert entry["volume_moved"] == Decimal(100)
    # exact decimals, not floats
    assert [(leg["delta"], leg["subsidy_delta"]) for leg in entry["legs"]] == [
        ("-100", "-10000.00"),
        ("100", "8000.00"),
    ]


def test_plan_against_actual_is_right_after_amendments_and_redistributions(
    services: Services, worker: ProjectionWorker
) -> None:
    town = f"Town {uuid.uuid4().hex[:6]}"
    a = draft(services, volume="1000", municipality=town)
    b = draft(services, volume="1000", municipality=town)
    # an amendment raises a's plan for this year and the next
    services.app.amend_assignment(
        META,
        a,
        changes=[("1", YEAR, Decimal(1200)), ("1", YEAR + 1, Decimal(1300))],
        reason="Открытие новых групп",
        basis_document="Приказ № 7",
    )
    # a reports q1 against the amended plan (300 due), within tolerance
    services.app.report_execution(
        META, a, report_id=uuid.uuid4(), period="q1", actual={"1": Decimal(295)}
    )
    # then 200 move from a to b
    last = services.app.redistribute(
        META,
        legs=[Leg(a, Decimal(-200)), Leg(b, Decimal(200))],
        registry_number=SERVICE,
        unit="person_hours",
        year=YEAR,
    )
    wait_projected(services, last.position)
    rows, _ = services.assignments.register(municipality=town)
    by_id = {r["assignment_id"]: r for r in rows}
    # the register agrees with the aggregates, line by line
    for aid in (a, b):
        line = services.app.get_assignment(aid).lines["1"]
        row = by_id[aid]
        assert row["planned"] == line.planned[YEAR]
        assert row["planned_next"] == line.planned[YEAR + 1]
        assert row["planned_initial"] == Decimal(1000)
    assert by_id[a]["planned"] == Decimal(1000)
    assert by_id[a]["planned_next"] == Decimal(1300)
    assert by_id[a]["amendments"] == 2
    assert (by_id[a]["planned_due"], by_id[a]["actual"]) == (Decimal(300), Decimal(295))
    assert by_id[a]["deviation_pct"] == Decimal("-1.67")
    assert by_id[a]["beyond_tolerance"] is False
    assert by_id[b]["planned"] == Decimal(1200)


def signed_redistribution_decision(services: Services, municipality: str) -> UUID:
    """A municipal interagency group's signed decision that authorises redistributions."""
    app = services.app
    gid = app.establish_group(
        META,
        kind="interagency",
        name="МРГ",
        basis_act="Постановление № 1",
        municipality=municipality,
    ).aggregate_id
    members = []
    for agency, position in (("education", "chair"), ("culture", "secretary"), ("sport", "member")):
        mid = uuid.uuid4()
        app.appoint_member(
            META,
            gid,
            member_id=mid,
            person=f"{position} {agency}",
            organization="O",
            agency=agency,
            position=position,
            voting=True,
            appointed_on=date(2027, 1, 10),
        )
        members.append(mid)
    meeting = uuid.uuid4()
    app.schedule_meeting(
        META,
        gid,
        meeting_id=meeting,
        held_on=date(2027, 7, 1),
        agenda=["О перераспределении муниципальных заданий"],
    )
    app.record_attendance(META, gid, meeting, present=members)
    motion = uuid.uuid4()
    app.vote_on_motion(
        META,
        gid,
        meeting,
        motion_id=motion,
        agenda_item="1",
        text="Перераспределить объём",
        votes={m: "for" for m in members},
    )
    decision = uuid.uuid4()
    app.record_decision(
        META,
        gid,
        meeting,
        decision_id=decision,
        protocol_number="5/2027",
        text="Перераспределить объём услуги между учреждениями",
        motion_id=motion,
        mechanism="regulation",
        targets=[DecisionTarget(TargetKind.ASSIGNMENT_REDISTRIBUTION, redistribution_ref="R-1")],
    )
    app.sign_protocol(META, gid, meeting, protocol_number="5/2027")
    return decision


def test_a_redistribution_may_cite_a_decision_checked_like_a_gate(services: Services) -> None:
    town = f"Town {uuid.uuid4().hex[:6]}"
    a = draft(services, municipality=town)
    b = draft(services, municipality=town)
    decision = signed_redistribution_decision(services, town)
    legs = [Leg(a, Decimal(-100)), Leg(b, Decimal(100))]
    result = services.app.redistribute(
        META,
        legs=legs,
        registry_number=SERVICE,
        unit="person_hours",
        year=YEAR,
        decision_id=decision,
    )
    record = services.app.get_redistribution(result.aggregate_id)
    assert record.decision_id == decision
    (entry,) = [
        e
        for e in services.app.history(a)
        if isinstance(e.event, MunicipalAssignment.VolumeRedistributed)
    ]
    assert entry.event.meta.decision_ref == str(decision)
    # a decision of another municipality's group, or an unknown one, is refused
    head = services.app.head_position()
    for cited, rule in (
        (signed_redistribution_decision(services, "Elsewhere"), "decision_group_covers_project"),
        (uuid.uuid4(), "decision_exists"),
    ):
        head = services.app.head_position()
        with pytest.raises(RuleViolationError) as caught:
            services.app.redistribute(
                META,
                legs=legs,
                registry_number=SERVICE,
                unit="person_hours",
                year=YEAR,
                decision_id=cited,
            )
        assert caught.value.rule == rule
        assert services.app.head_position() == head


def test_a_late_report_for_an_earlier_period_does_not_replace_the_latest_in_the_register(
    services: Services, worker: ProjectionWorker
) -> None:
    town = f"Town {uuid.uuid4().hex[:6]}"
    a = draft(services, volume="1000", municipality=town)
    services.app.report_execution(
        META, a, report_id=uuid.uuid4(), period="h1", actual={"1": Decimal(500)}
    )
    late = services.app.report_execution(
        META, a, report_id=uuid.uuid4(), period="q1", actual={"1": Decimal(250)}
    )
    wait_projected(services, late.position)
    (row,) = services.assignments.register(municipality=town)[0]
    assert (row["report_period"], row["actual"]) == ("h1", Decimal(500))
