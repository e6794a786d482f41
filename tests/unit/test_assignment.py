"""Scenarios over the MunicipalAssignment aggregate and redistributions between assignments.

Given assignments (built by commands), when a command runs, then the events it recorded
and the state they produced are as the domain says. A refused command changes nothing:
for a redistribution, no assignment passed in is changed.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import Mapper

from domain.assignment import (
    AssignmentStatus,
    Direction,
    Leg,
    MunicipalAssignment,
    Redistribution,
    ReportPeriod,
    ReportStatus,
    VolumeUnit,
    deviation_pct,
    plan_redistribution,
)
from domain.base import DomainAggregate
from domain.errors import DomainError, RuleViolationError, ValidationError
from domain.values import Agency, EventMeta
from tests.unit.conftest import META, event_names

FY = 2026
REG = "804200О.99.0.ББ52АЖ48000"
OTHER_REG = "804200О.99.0.ББ52АЗ44000"
QUALITY = "Доля детей, освоивших программу"
FOUNDER = "Управление образования"
OTHER_FOUNDER = "Комитет по физической культуре и спорту"
APPROVAL = "Постановление администрации № 101"
OTHER = EventMeta(
    actor_id="founder-3",
    actor_role="official",
    actor_agency="sport",
    correlation_id="req-0042",
)


# -- builders -------------------------------------------------------------------------


def line(**overrides: Any) -> dict[str, Any]:
    """A raw service line as the API submits it: 1000/1000/900 person-hours at 150.50."""
    raw: dict[str, Any] = {
        "line_id": "1",
        "registry_number": REG,
        "service_name": "Реализация дополнительных общеразвивающих программ",
        "direction": "technical",
        "unit": "person_hours",
        "planned": {str(FY): "1000", str(FY + 1): "1000", str(FY + 2): "900"},
        "allowed_deviation_pct": "10",
        "normative_cost": "150.50",
        "quality": [{"name": QUALITY, "unit": "%", "planned": "80", "allowed_deviation_pct": "5"}],
    }
    raw.update(overrides)
    return raw


def draft(meta: EventMeta = META, **overrides: Any) -> MunicipalAssignment:
    kwargs: dict[str, Any] = {
        "assignment_id": uuid4(),
        "organization_id": "org-ddt-1",
        "institution": "МБУ ДО «Дом детского творчества»",
        "agency": "education",
        "founder": FOUNDER,
        "municipality": "Городской округ N",
        "fiscal_year": FY,
        "lines": [line()],
    }
    kwargs.update(overrides)
    return MunicipalAssignment.draft(meta, **kwargs)


def approved(meta: EventMeta = META, **overrides: Any) -> MunicipalAssignment:
    """An approved assignment whose events are already collected."""
    a = draft(meta, **overrides)
    a.approve(meta, basis_document=APPROVAL)
    a.collect_events()
    return a


def institution(
    planned: str = "1000",
    cost: str = "100",
    *,
    founder: str = FOUNDER,
    registry_number: str = REG,
    unit: str = "person_hours",
    name: str = "МБУ ДО «ДДТ»",
) -> MunicipalAssignment:
    """An approved assignment with one line of the service, the same volume each year."""
    return approved(
        institution=name,
        founder=founder,
        lines=[
            line(
                registry_number=registry_number,
                unit=unit,
                normative_cost=cost,
                planned={str(y): planned for y in (FY, FY + 1, FY + 2)},
            )
        ],
    )


def assignment_state(a: MunicipalAssignment) -> dict[str, Any]:
    """A snapshot of everything a command may change (lines and reports are mutable)."""
    return {
        "status": a.status,
        "lines": copy.deepcopy(a.lines),
        "reports": copy.deepcopy(a.reports),
        "amendments": a.amendments,
        "version": a.version,
        "pending": tuple(a.pending_events),
    }


def assert_refused(
    assignments: MunicipalAssignment | Iterable[MunicipalAssignment],
    command: Callable[[], object],
    error: type[DomainError],
    *,
    rule: str | None = None,
    field: str | None = None,
) -> DomainError:
    """Runs a command that must be refused; checks that EVERY assignment is unchanged."""
    group = [assignments] if isinstance(assignments, MunicipalAssignment) else list(assignments)
    before = [assignment_state(a) for a in group]
    with pytest.raises(error) as caught:
        command()
    assert [assignment_state(a) for a in group] == before
    if rule is not None:
        assert isinstance(caught.value, RuleViolationError)
        assert caught.value.rule == rule
        assert caught.value.extra["rule"] == rule
    if field is not None:
        assert caught.value.extra["field"] == field
    return caught.value


def redistribute(
    legs: list[tuple[MunicipalAssignment, str]],
    *,
    extra: Iterable[MunicipalAssignment] = (),
    meta: EventMeta = META,
    **overrides: Any,
) -> Redistribution:
    """Plans a redistribution of REG person-hours in the fiscal year (unless told)."""
    kwargs: dict[str, Any] = {
        "redistribution_id": uuid4(),
        "assignments": {a.id: a for a, _ in legs} | {a.id: a for a in extra},
        "legs": [Leg(a.id, Decimal(delta)) for a, delta in legs],
        "registry_number": REG,
        "unit": "person_hours",
        "year": FY,
    }
    kwargs.update(overrides)
    return plan_redistribution(meta, **kwargs)


def planned(a: MunicipalAssignment, year: int = FY) -> Decimal:
    found = a.line_for(REG, VolumeUnit.PERSON_HOURS)
    assert found is not None
    return found.planned.get(year, Decimal(0))


def replay(events: Iterable[Any]) -> Any:
    return functools.reduce(lambda a, e: e.mutate(a), events, None)


# -- drafting -------------------------------------------------------------------------


def test_a_drafted_assignment_is_a_draft_holding_its_lines_in_exact_decimals() -> None:
    # when: a second line gives no id, direction or quality indicators
    second = line(registry_number=OTHER_REG, unit="students", normative_cost="12000")
    del second["line_id"], second["direction"], second["quality"]
    second["planned"] = {FY: 40}
    a = draft(lines=[line(), second])
    # then
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.AssignmentDrafted)
    assert event.meta == META
    assert a.status is AssignmentStatus.DRAFT
    assert a.agency is Agency.EDUCATION
    assert (a.fiscal_year, a.founder, a.amendments, a.reports) == (FY, FOUNDER, 0, {})
    first, other = a.lines["1"], a.lines["2"]  # a missing id is the line's position
    assert first.direction is Direction.TECHNICAL
    assert first.unit is VolumeUnit.PERSON_HOURS
    assert first.planned == {FY: Decimal(1000), FY + 1: Decimal(1000), FY + 2: Decimal(900)}
    assert first.normative_cost == Decimal("150.50")
    assert first.quality[0].name == QUALITY
    assert first.quality[0].planned == Decimal(80)
    assert other.direction is None
    assert other.unit is VolumeUnit.STUDENTS
    assert other.allowed_deviation_pct == Decimal(10)  # the default tolerance
    assert other.quality == []
    # the subsidy is volume x normative cost, per year
    assert a.subsidy(FY) == Decimal("150500.00") + Decimal(480000)
    assert a.subsidy(FY + 2) == Decimal("135450.00")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": [line(direction="robotics")]}, "lines[0].direction"),
        ({"lines": [line(unit="hours")]}, "lines[0].unit"),
        (
            {"lines": [line(), line(line_id="2", registry_number=OTHER_REG, unit="km")]},
            "lines[1].unit",
        ),
        ({"agency": "police"}, "agency"),
    ],
    ids=["direction", "unit", "unit-of-second-line", "agency"],
)
def test_an_unknown_code_is_invalid_input_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        draft(**overrides)
    assert caught.value.extra["field"] == field
    assert "unknown code" in caught.value.detail


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"planned": {str(FY): "-1"}}, "lines[0].planned"),
        ({"planned": {str(FY): "много"}}, "lines[0].planned"),
        ({"planned": {str(FY): "NaN"}}, "lines[0].planned"),
        ({"planned": {}}, "lines[0].planned"),
        ({"normative_cost": "-0.01"}, "lines[0].normative_cost"),
        ({"normative_cost": "Infinity"}, "lines[0].normative_cost"),
        ({"allowed_deviation_pct": "-1"}, "lines[0].allowed_deviation_pct"),
        ({"allowed_deviation_pct": "100.01"}, "lines[0].allowed_deviation_pct"),
        ({"registry_number": "  "}, "lines[0].registry_number"),
        ({"service_name": ""}, "lines[0].service_name"),
    ],
    ids=[
        "negative-volume",
        "volume-not-a-number",
        "volume-nan",
        "no-volume",
        "negative-cost",
        "infinite-cost",
        "negative-tolerance",
        "tolerance-over-100",
        "blank-registry-number",
        "blank-service-name",
    ],
)
def test_a_negative_or_malformed_number_is_invalid_input_naming_the_field(
    raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        draft(lines=[line(**raw)])
    assert caught.value.extra["field"] == field


@pytest.mark.parametrize("year", [FY - 1, FY + 3])
def test_a_volume_for_a_year_outside_the_fiscal_year_and_two_plan_years_is_invalid(
    year: int,
) -> None:
    with pytest.raises(ValidationError) as caught:
        draft(lines=[line(planned={str(FY): "10", str(year): "10"})])
    assert caught.value.extra["field"] == "lines[0].planned"
    assert str(year) in caught.value.detail


def test_a_zero_volume_and_zero_cost_are_valid_and_the_boundary_years_are_accepted() -> None:
    a = draft(lines=[line(planned={str(FY): "0", str(FY + 2): "5"}, normative_cost="0")])
    assert a.lines["1"].planned == {FY: Decimal(0), FY + 2: Decimal(5)}
    assert a.subsidy(FY + 2) == 0


def test_the_same_service_twice_breaks_the_one_line_per_service_rule() -> None:
    # given two lines of the same registry number and unit, under different ids
    lines = [line(), line(line_id="2", service_name="Другое имя той же услуги")]
    # when / then
    with pytest.raises(RuleViolationError) as caught:
        draft(lines=lines)
    assert caught.value.rule == "one_line_per_service"


def test_the_same_registry_number_in_another_unit_is_another_service() -> None:
    a = draft(lines=[line(), line(line_id="2", unit="students")])
    assert a.line_for(REG, VolumeUnit.STUDENTS) is a.lines["2"]
    assert a.line_for(REG, VolumeUnit.PERSON_HOURS) is a.lines["1"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [line(), line(registry_number=OTHER_REG)]}, "lines"),  # same line id
        ({"fiscal_year": 1999}, "fiscal_year"),
        ({"institution": " "}, "institution"),
        ({"founder": ""}, "founder"),
    ],
    ids=["no-lines", "duplicate-line-id", "fiscal-year", "institution", "founder"],
)
def test_an_assignment_needs_lines_unique_ids_a_year_an_institution_and_a_founder(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        draft(**overrides)
    assert caught.value.extra["field"] == field


# -- approval and amendment -----------------------------------------------------------


def test_approving_a_draft_records_the_basis_document_in_the_meta() -> None:
    a = draft()
    a.collect_events()
    # when
    a.approve(OTHER, basis_document=f"  {APPROVAL} ")
    # then
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.AssignmentApproved)
    assert event.meta == OTHER.because(basis_document=APPROVAL)
    assert a.status is AssignmentStatus.APPROVED


@pytest.mark.parametrize("blank", ["", "   "])
def test_approval_needs_a_basis_document(blank: str) -> None:
    a = draft()
    assert_refused(
        a,
        lambda: a.approve(META, basis_document=blank),
        ValidationError,
        field="basis_document",
    )


def test_only_a_draft_can_be_approved() -> None:
    a = approved()
    assert_refused(
        a,
        lambda: a.approve(META, basis_document=APPROVAL),
        RuleViolationError,
        rule="approve_only_draft",
    )


def test_amending_sets_new_volumes_with_the_reason_and_basis_and_marks_it_amended() -> None:
    a = approved()
    # when
    a.amend(
        OTHER,
        changes=[("1", FY, Decimal("800")), ("1", FY + 2, Decimal("950.5"))],
        reason=" Снижение контингента ",
        basis_document="Постановление № 7",
    )
    # then
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.AssignmentAmended)
    assert event.meta == OTHER.because("Снижение контингента", basis_document="Постановление № 7")
    assert event.changes == [
        {"line_id": "1", "year": str(FY), "planned": "800"},
        {"line_id": "1", "year": str(FY + 2), "planned": "950.5"},
    ]
    assert a.status is AssignmentStatus.AMENDED
    assert a.amendments == 1
    assert a.lines["1"].planned == {
        FY: Decimal(800),
        FY + 1: Decimal(1000),
        FY + 2: Decimal("950.5"),
    }
    assert a.subsidy(FY) == Decimal(800) * Decimal("150.50")
    # and an amended assignment can be amended again
    a.amend(META, changes=[("1", FY, Decimal(0))], reason="Ещё", basis_document="№ 8")
    assert (a.amendments, planned(a)) == (2, Decimal(0))


@pytest.mark.parametrize(
    ("kwargs", "error", "rule", "field"),
    [
        ({"reason": "  "}, ValidationError, None, "reason"),
        ({"basis_document": ""}, ValidationError, None, "basis_document"),
        ({"changes": []}, ValidationError, None, "changes"),
        ({"changes": [("1", FY, Decimal("-1"))]}, ValidationError, None, "changes"),
        ({"changes": [("9", FY, Decimal(1))]}, RuleViolationError, "service_line_exists", None),
        ({"changes": [("1", FY + 3, Decimal(1))]}, RuleViolationError, "year_of_assignment", None),
    ],
    ids=["reason", "basis", "no-changes", "negative", "unknown-line", "year"],
)
def test_an_amendment_needs_a_reason_a_basis_and_valid_changes(
    kwargs: dict[str, Any], error: type[DomainError], rule: str | None, field: str | None
) -> None:
    a = approved()
    arguments: dict[str, Any] = {
        "changes": [("1", FY, Decimal(5))],
        "reason": "Причина",
        "basis_document": "Постановление № 7",
    } | kwargs
    assert_refused(a, lambda: a.amend(META, **arguments), error, rule=rule, field=field)


def test_a_draft_is_not_in_force_and_cannot_be_amended_or_reported_on() -> None:
    a = draft()
    a.collect_events()
    assert_refused(
        a,
        lambda: a.amend(META, changes=[("1", FY, Decimal(1))], reason="r", basis_document="b"),
        RuleViolationError,
        rule="assignment_in_force",
    )
    assert_refused(
        a,
        lambda: a.report_execution(
            META, report_id=uuid4(), period="q1", actual={"1": Decimal(250)}
        ),
        RuleViolationError,
        rule="assignment_in_force",
    )


# -- execution reports ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "due"),
    [("q1", "250"), ("h1", "500"), ("9m", "750"), ("year", "1000")],
)
def test_a_deviation_is_computed_against_the_plan_due_by_the_end_of_the_period(
    period: str, due: str
) -> None:
    # given an annual plan of 1000 person-hours, 10% tolerance
    a = approved()
    actual = Decimal(due) * Decimal("0.95")  # 5% short: within the tolerance
    report_id = uuid4()
    # when
    beyond = a.report_execution(
        OTHER,
        report_id=report_id,
        period=period,
        actual={"1": actual, f"1:{QUALITY}": Decimal(80)},
    )
    # then
    assert beyond == []
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.ExecutionReported)
    assert event.meta == OTHER
    assert event.period == period
    assert event.deviation == {"1": "-5.00", f"1:{QUALITY}": "0.00"}
    assert event.reasons == {}
    report = a.reports[report_id]
    assert report.period is ReportPeriod(period)
    assert report.status is ReportStatus.SUBMITTED
    assert report.actual["1"] == actual
    assert report.deviation["1"] == Decimal("-5.00")


def test_a_deviation_beyond_the_allowed_one_without_a_reason_is_refused_naming_it() -> None:
    # given: q1 is due 250; 200 is 20% short, beyond 10%; the indicator is 12.5% short
    a = approved()
    actual = {"1": Decimal(200), f"1:{QUALITY}": Decimal(70)}
    # when / then
    error = assert_refused(
        a,
        lambda: a.report_execution(
            META, report_id=uuid4(), period="q1", actual=actual, reasons={"1": "   "}
        ),
        RuleViolationError,
        rule="deviation_needs_reason",
    )
    assert "1: -20.00%" in error.detail
    assert f"1:{QUALITY}: -12.50%" in error.detail
    assert error.extra["beyond_tolerance"] == [
        {"key": "1", "deviation_pct": "-20.00"},
        {"key": f"1:{QUALITY}", "deviation_pct": "-12.50"},
    ]


def test_a_deviation_exactly_at_the_allowed_one_needs_no_reason() -> None:
    a = approved()
    # 275 against 250 due is +10.00%, the tolerance itself
    assert (
        a.report_execution(META, report_id=uuid4(), period="q1", actual={"1": Decimal(275)}) == []
    )


def test_a_deviation_beyond_the_allowed_one_with_a_reason_is_accepted_and_flagged() -> None:
    a = approved()
    report_id = uuid4()
    # when: only the line is beyond; a reason given for a key within tolerance is dropped
    beyond = a.report_execution(
        META,
        report_id=report_id,
        period="h1",
        actual={"1": Decimal(600), f"1:{QUALITY}": Decimal(81)},
        reasons={"1": " Дополнительный набор групп ", f"1:{QUALITY}": "не нужна"},
    )
    # then
    assert beyond == ["1"]
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.ExecutionReported)
    assert event.deviation == {"1": "20.00", f"1:{QUALITY}": "1.25"}
    assert event.beyond_tolerance == ["1"]
    assert event.reasons == {"1": "Дополнительный набор групп"}
    assert a.reports[report_id].beyond_tolerance == ["1"]
    assert a.reports[report_id].reasons == {"1": "Дополнительный набор групп"}


def test_a_quality_indicator_is_reported_under_line_id_colon_name_against_its_own_plan() -> None:
    # the indicator's plan is not scaled by the period's share: 80% due in q1 too
    a = approved()
    beyond = a.report_execution(
        META,
        report_id=uuid4(),
        period="q1",
        actual={"1": Decimal(250), f"1:{QUALITY}": Decimal(90)},
        reasons={f"1:{QUALITY}": "Высокая мотивация"},
    )
    assert beyond == [f"1:{QUALITY}"]
    (report,) = a.reports.values()
    assert report.deviation[f"1:{QUALITY}"] == Decimal("12.50")


@pytest.mark.parametrize(
    ("actual", "period", "error", "rule", "field"),
    [
        ({f"1:{QUALITY}": "80"}, "q1", ValidationError, None, "actual"),
        ({"1": "-1"}, "q1", ValidationError, None, "actual"),
        ({"1": "250"}, "q2", ValidationError, None, "period"),
        ({"1": "250", "7": "1"}, "q1", RuleViolationError, "service_line_exists", None),
        ({"1": "250", "1:Охват": "1"}, "q1", RuleViolationError, "quality_indicator_exists", None),
    ],
    ids=["missing-line", "negative", "unknown-period", "unknown-line", "unknown-indicator"],
)
def test_a_report_must_give_every_line_known_keys_and_no_negative_values(
    actual: dict[str, str],
    period: str,
    error: type[DomainError],
    rule: str | None,
    field: str | None,
) -> None:
    a = approved()
    values = {k: Decimal(v) for k, v in actual.items()}
    assert_refused(
        a,
        lambda: a.report_execution(META, report_id=uuid4(), period=period, actual=values),
        error,
        rule=rule,
        field=field,
    )


def test_a_zero_plan_deviates_by_nothing_when_nothing_is_done_and_fully_otherwise() -> None:
    a = approved(lines=[line(planned={str(FY + 1): "100"})])  # nothing planned this year
    report_id = uuid4()
    a.report_execution(META, report_id=report_id, period="year", actual={"1": Decimal(0)})
    assert a.reports[report_id].deviation["1"] == 0
    assert deviation_pct(Decimal(3), Decimal(0)) == Decimal(100)


def test_one_report_per_period_unless_the_founder_returned_it() -> None:
    a = approved()
    first = uuid4()
    a.report_execution(META, report_id=first, period="q1", actual={"1": Decimal(250)})

    def again() -> object:
        return a.report_execution(META, report_id=uuid4(), period="q1", actual={"1": Decimal(250)})

    # a submitted report blocks another for its period, not for other periods
    assert_refused(a, again, RuleViolationError, rule="one_report_per_period")
    a.report_execution(META, report_id=uuid4(), period="h1", actual={"1": Decimal(500)})
    # when the founder returns it, a new report for the period is accepted
    a.return_report(OTHER, report_id=first, reason="Не приложены журналы")
    assert a.reports[first].status is ReportStatus.RETURNED
    second = uuid4()
    a.report_execution(META, report_id=second, period="q1", actual={"1": Decimal(251)})
    # an accepted one blocks it again
    a.accept_report(OTHER, report_id=second)
    assert_refused(a, again, RuleViolationError, rule="one_report_per_period")


def test_the_founder_accepts_or_returns_a_submitted_report_once() -> None:
    a = approved()
    accepted, returned = uuid4(), uuid4()
    a.report_execution(META, report_id=accepted, period="q1", actual={"1": Decimal(250)})
    a.report_execution(META, report_id=returned, period="h1", actual={"1": Decimal(500)})
    a.collect_events()
    # when
    a.accept_report(OTHER, report_id=accepted)
    a.return_report(OTHER, report_id=returned, reason=" Ошибка в данных ")
    # then
    accept_event, return_event = a.collect_events()
    assert isinstance(accept_event, MunicipalAssignment.ReportAccepted)
    assert accept_event.meta == OTHER
    assert accept_event.report_id == accepted
    assert isinstance(return_event, MunicipalAssignment.ReportReturned)
    assert return_event.meta == OTHER.because("Ошибка в данных")
    assert a.reports[accepted].status is ReportStatus.ACCEPTED
    assert a.reports[returned].status is ReportStatus.RETURNED
    # neither can be decided again
    for report_id in (accepted, returned):
        assert_refused(
            a,
            functools.partial(a.accept_report, META, report_id=report_id),
            RuleViolationError,
            rule="report_submitted",
        )
        assert_refused(
            a,
            functools.partial(a.return_report, META, report_id=report_id, reason="x"),
            RuleViolationError,
            rule="report_submitted",
        )


def test_returning_a_report_needs_a_reason_and_an_unknown_report_is_refused() -> None:
    a = approved()
    report_id = uuid4()
    a.report_execution(META, report_id=report_id, period="q1", actual={"1": Decimal(250)})
    assert_refused(
        a,
        lambda: a.return_report(META, report_id=report_id, reason=" "),
        ValidationError,
        field="reason",
    )
    assert_refused(
        a,
        lambda: a.accept_report(META, report_id=uuid4()),
        RuleViolationError,
        rule="report_exists",
    )


# -- closing --------------------------------------------------------------------------


def closed() -> MunicipalAssignment:
    a = approved()
    a.close(OTHER)
    (event,) = a.collect_events()
    assert isinstance(event, MunicipalAssignment.AssignmentClosed)
    assert event.meta == OTHER
    return a


CHANGES: dict[str, Callable[[MunicipalAssignment], object]] = {
    "amend": lambda a: a.amend(
        META, changes=[("1", FY, Decimal(1))], reason="r", basis_document="b"
    ),
    "report": lambda a: a.report_execution(
        META, report_id=uuid4(), period="year", actual={"1": Decimal(1000)}
    ),
    "close": lambda a: a.close(META),
    "redistribute": lambda a: a.redistribute(
        META,
        redistribution_id=uuid4(),
        registry_number=REG,
        unit=VolumeUnit.PERSON_HOURS,
        year=FY,
        delta=Decimal(1),
    ),
    "approve": lambda a: a.approve(META, basis_document=APPROVAL),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_closed_assignment_refuses_every_change(change: str) -> None:
    a = closed()
    assert a.status is AssignmentStatus.CLOSED
    rule = "approve_only_draft" if change == "approve" else "assignment_in_force"
    assert_refused(a, lambda: CHANGES[change](a), RuleViolationError, rule=rule)


def test_a_closed_assignment_cannot_take_part_in_a_redistribution() -> None:
    a, b = closed(), institution()
    assert_refused(
        [a, b],
        lambda: redistribute([(b, "-10"), (a, "10")]),
        RuleViolationError,
        rule="assignment_in_force",
    )


# -- redistribution -------------------------------------------------------------------


def test_a_balanced_redistribution_moves_volume_and_recalculates_each_subsidy_at_its_own_cost() -> (
    None
):
    # given two institutions of one founder, at different normative costs
    a = institution("1000", "100", name="МБУ ДО «ДДТ»")
    b = institution("300", "120.25", name="МБУ ДО «Станция юных техников»")
    redistribution_id = uuid4()
    # when
    record = redistribute([(a, "-100.5"), (b, "100.5")], redistribution_id=redistribution_id)
    # then volume moved exactly and the total is conserved
    assert (planned(a), planned(b)) == (Decimal("899.5"), Decimal("400.5"))
    assert planned(a) + planned(b) == Decimal(1300)
    assert planned(a, FY + 1) == Decimal(1000)  # other years untouched
    assert a.subsidy(FY) == Decimal("89950.0")
    assert b.subsidy(FY) == Decimal("400.5") * Decimal("120.25")
    # each assignment records its leg
    for assignment, delta, cost in ((a, "-100.5", "100"), (b, "100.5", "120.25")):
        (event,) = assignment.collect_events()
        assert isinstance(event, MunicipalAssignment.VolumeRedistributed)
        assert event.redistribution_id == redistribution_id
        assert (event.line_id, event.year, event.delta) == ("1", FY, delta)
        assert Decimal(event.subsidy_delta) == Decimal(delta) * Decimal(cost)
        assert assignment.status is AssignmentStatus.AMENDED
        assert assignment.amendments == 1
    # and the record lists the legs
    assert isinstance(record, Redistribution)
    assert record.id == redistribution_id
    assert (record.registry_number, record.unit, record.year) == (REG, VolumeUnit.PERSON_HOURS, FY)
    assert (record.cross_founder, record.budget_basis, record.decision_id) == (False, None, None)
    assert record.legs == [
        {
            "assignment_id": str(a.id),
            "institution": "МБУ ДО «ДДТ»",
            "founder": FOUNDER,
            "agency": "education",
            "line_id": "1",
            "delta": "-100.5",
            "normative_cost": "100",
            "subsidy_delta": str(Decimal("-100.5") * Decimal(100)),
        },
        {
            "assignment_id": str(b.id),
            "institution": "МБУ ДО «Станция юных техников»",
            "founder": FOUNDER,
            "agency": "education",
            "line_id": "1",
            "delta": "100.5",
            "normative_cost": "120.25",
            "subsidy_delta": str(Decimal("100.5") * Decimal("120.25")),
        },
    ]
    (created,) = record.collect_events()
    assert isinstance(created, Redistribution.RedistributionRecorded)


def test_volume_may_leave_several_assignments_and_enter_several_others() -> None:
    a, b, c, d = (institution("100", cost) for cost in ("10", "20", "30", "40"))
    record = redistribute([(a, "-60"), (b, "-40"), (c, "70"), (d, "30")], year=FY + 2)
    assert [planned(x, FY + 2) for x in (a, b, c, d)] == [40, 60, 170, 130]
    assert sum(Decimal(leg["subsidy_delta"]) for leg in record.legs) == (
        -60 * 10 - 40 * 20 + 70 * 30 + 30 * 40
    )


def test_volume_may_enter_a_year_the_receiving_assignment_had_no_plan_for() -> None:
    a = institution()
    b = approved(lines=[line(planned={str(FY): "5"}, normative_cost="100")])
    redistribute([(a, "-50"), (b, "50")], year=FY + 1)
    assert planned(b, FY + 1) == Decimal(50)


@pytest.mark.parametrize(
    ("deltas", "imbalance"),
    [(("-100", "90"), "-10"), (("-100", "100.01"), "0.01"), (("-1", "-1", "3"), "1")],
)
def test_a_redistribution_that_does_not_conserve_the_volume_is_refused_with_its_imbalance(
    deltas: tuple[str, ...], imbalance: str
) -> None:
    group = [institution() for _ in deltas]
    error = assert_refused(
        group,
        lambda: redistribute(list(zip(group, deltas, strict=True))),
        RuleViolationError,
        rule="volume_conserved",
    )
    assert Decimal(error.extra["imbalance"]) == Decimal(imbalance)


def test_a_redistribution_needs_volume_leaving_one_assignment_and_entering_another() -> None:
    a, b = institution(), institution()
    for deltas in (("-50", "-50"), ("50", "50")):
        assert_refused(
            [a, b],
            functools.partial(redistribute, [(a, deltas[0]), (b, deltas[1])]),
            RuleViolationError,
            rule="redistribution_has_both_sides",
        )


def test_a_redistribution_has_two_distinct_nonzero_legs() -> None:
    a, b = institution(), institution()
    for legs in ([(a, "-1")], [(a, "-1"), (a, "1")], [(a, "0"), (b, "0")], []):
        assert_refused(
            [a, b],
            functools.partial(redistribute, legs, extra=[a, b]),
            ValidationError,
            field="legs",
        )


@pytest.mark.parametrize("order", ["leaving-last", "leaving-first"])
def test_a_redistribution_leaving_a_volume_negative_is_refused_and_changes_no_assignment(
    order: str,
) -> None:
    # given: c has 100; 100.01 cannot leave it, though a's leg alone would be fine
    a, b, c = institution("1000"), institution("0"), institution("100")
    legs = [(a, "-50"), (b, "150.01"), (c, "-100.01")]
    if order == "leaving-first":
        legs.reverse()
    error = assert_refused(
        [a, b, c],
        lambda: redistribute(legs),
        RuleViolationError,
        rule="volume_never_negative",
    )
    assert "100.01" in error.detail


def test_all_the_volume_may_leave_an_assignment_leaving_zero() -> None:
    a, b = institution("100"), institution("0")
    redistribute([(a, "-100"), (b, "100")])
    assert (planned(a), planned(b)) == (Decimal(0), Decimal(100))


@pytest.mark.parametrize(
    ("receiver", "unit"),
    [
        ({"registry_number": OTHER_REG}, "person_hours"),
        ({"unit": "students"}, "person_hours"),
        ({}, "students"),
    ],
    ids=["other-registry-number", "other-unit-at-receiver", "other-unit-asked"],
)
def test_volume_moves_only_between_lines_of_the_same_service_and_unit(
    receiver: dict[str, str], unit: str
) -> None:
    a, b = institution(), institution(**receiver)
    assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")], unit=unit),
        RuleViolationError,
        rule="redistribution_same_service",
    )


def test_an_unknown_unit_code_is_invalid_input() -> None:
    a, b = institution(), institution()
    assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")], unit="hours"),
        ValidationError,
        field="unit",
    )


@pytest.mark.parametrize("budget_basis", [None, "", "   "])
def test_a_cross_founder_redistribution_without_a_budget_basis_is_refused(
    budget_basis: str | None,
) -> None:
    a, b = institution(), institution(founder=OTHER_FOUNDER)
    error = assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")], budget_basis=budget_basis),
        RuleViolationError,
        rule="cross_founder_needs_budget_basis",
    )
    assert FOUNDER in error.detail
    assert OTHER_FOUNDER in error.detail


def test_a_cross_founder_redistribution_with_a_budget_basis_is_recorded_as_such() -> None:
    a, b = institution(cost="100"), institution(cost="80", founder=OTHER_FOUNDER)
    decision_id = uuid4()
    # when
    record = redistribute(
        [(a, "-10"), (b, "10")],
        budget_basis=" Решение Думы № 45 о перераспределении ",
        decision_id=decision_id,
        meta=META.because("Перевод группы"),
    )
    # then
    assert record.cross_founder is True
    assert record.budget_basis == "Решение Думы № 45 о перераспределении"
    assert record.decision_id == decision_id
    expected = META.because(
        "Перевод группы",
        basis_document="Решение Думы № 45 о перераспределении",
        decision_ref=str(decision_id),
    )
    events = [*a.collect_events(), *b.collect_events(), *record.collect_events()]
    assert [e.meta for e in events] == [expected] * 3  # type: ignore[attr-defined]
    assert (planned(a), planned(b)) == (Decimal(990), Decimal(1010))
    assert [Decimal(leg["subsidy_delta"]) for leg in record.legs] == [-1000, 800]


@pytest.mark.parametrize("year", [FY - 1, FY + 3])
def test_a_redistribution_for_a_year_outside_the_assignments_is_refused(year: int) -> None:
    a, b = institution(), institution()
    assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")], year=year),
        RuleViolationError,
        rule="year_of_assignment",
    )


def test_a_redistribution_naming_an_assignment_not_given_is_refused() -> None:
    a, b = institution(), institution()
    assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")], assignments={a.id: a}),
        RuleViolationError,
        rule="redistribution_assignments_exist",
    )


def test_a_draft_cannot_take_part_in_a_redistribution() -> None:
    a = institution()
    b = draft(lines=[line(normative_cost="100")])
    assert_refused(
        [a, b],
        lambda: redistribute([(a, "-10"), (b, "10")]),
        RuleViolationError,
        rule="assignment_in_force",
    )


# -- meta, serialisation and replay ---------------------------------------------------


def eventful_history() -> tuple[list[MunicipalAssignment], Redistribution]:
    """Assignments that went through every kind of event, and a redistribution between two."""
    a = draft(lines=[line(), line(line_id="2", registry_number=OTHER_REG, direction=None)])
    a.approve(META, basis_document=APPROVAL)
    a.amend(META, changes=[("1", FY, Decimal("1100"))], reason="Рост", basis_document="№ 2")
    accepted, returned = uuid4(), uuid4()
    a.report_execution(
        META,
        report_id=accepted,
        period="q1",
        actual={"1": Decimal(200), "2": Decimal("262.5"), f"1:{QUALITY}": Decimal(80)},
        reasons={"1": "Карантин"},
    )
    a.report_execution(
        META, report_id=returned, period="h1", actual={"1": Decimal(550), "2": Decimal(500)}
    )
    a.accept_report(META, report_id=accepted)
    a.return_report(META, report_id=returned, reason="Нет журналов")
    b = draft(founder=OTHER_FOUNDER)
    b.approve(META, basis_document=APPROVAL)
    record = plan_redistribution(
        META,
        redistribution_id=uuid4(),
        assignments={a.id: a, b.id: b},
        legs=[Leg(a.id, Decimal("-100.25")), Leg(b.id, Decimal("100.25"))],
        registry_number=REG,
        unit="person_hours",
        year=FY + 1,
        budget_basis="Решение Думы № 45",
        decision_id=uuid4(),
    )
    a.close(META)
    return [a, b], record


def event_types(cls: type[DomainAggregate]) -> set[str]:
    return {
        name
        for name, value in vars(cls).items()
        if isinstance(value, type) and issubclass(value, DomainAggregate.Event)
    } - {"Event", "Created"}


def test_every_event_carries_the_meta_it_was_given() -> None:
    (a, b), record = eventful_history()
    events = [*a.pending_events, *b.pending_events, *record.pending_events]
    for event in events:
        meta = event.meta  # type: ignore[attr-defined]
        assert isinstance(meta, EventMeta)
        assert (meta.actor_id, meta.actor_role, meta.actor_agency, meta.correlation_id) == (
            META.actor_id,
            META.actor_role,
            META.actor_agency,
            META.correlation_id,
        )
    names = event_names(a.pending_events)
    assert set(names) == event_types(MunicipalAssignment)
    assert names[-1] == "AssignmentClosed"


def test_every_event_type_survives_a_round_trip_through_the_stored_form(
    mapper: Mapper[Any],
) -> None:
    # given events of every type, with and without optional values
    (a, b), record = eventful_history()
    c = institution(founder=OTHER_FOUNDER)
    bare = plan_redistribution(
        EventMeta(actor_id="system", actor_role="system"),
        redistribution_id=uuid4(),
        assignments={b.id: b, c.id: c},
        legs=[Leg(b.id, Decimal("-1")), Leg(c.id, Decimal("1"))],
        registry_number=REG,
        unit="person_hours",
        year=FY,
    )
    events = [*a.pending_events, *b.pending_events, *record.pending_events, *bare.pending_events]
    seen = {type(e).__name__ for e in events}
    assert seen >= event_types(MunicipalAssignment) | event_types(Redistribution)
    for event in events:
        # when
        restored = mapper.to_domain_event(mapper.to_stored_event(event))
        # then it is equal field by field
        assert type(restored) is type(event)
        assert restored == event
        assert vars(restored) == vars(event)
        assert restored.meta == event.meta  # type: ignore[attr-defined]
        assert restored.timestamp == event.timestamp
    assert bare.decision_id is None
    assert record.decision_id is not None


def test_assignments_and_a_redistribution_replayed_from_stored_events_equal_the_originals(
    mapper: Mapper[Any],
) -> None:
    (a, b), record = eventful_history()
    for original in (a, b, record):
        events = list(original.collect_events())
        restored = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
        rebuilt = replay(restored)
        assert rebuilt == original
        assert rebuilt.version == original.version
    # spot checks of the state the events produced
    assert a.status is AssignmentStatus.CLOSED
    assert a.amendments == 2
    assert planned(a, FY) == Decimal(1100)
    assert planned(a, FY + 1) == Decimal("899.75")
    assert planned(b, FY + 1) == Decimal("1100.25")
    assert sorted(r.status for r in a.reports.values()) == [
        ReportStatus.ACCEPTED,
        ReportStatus.RETURNED,
    ]


def test_replaying_a_prefix_gives_the_assignment_as_it_was_then() -> None:
    a = draft()
    a.approve(META, basis_document=APPROVAL)
    a.amend(META, changes=[("1", FY, Decimal(5))], reason="r", basis_document="b")
    events = list(a.collect_events())
    before_amendment = replay(events[:2])
    assert isinstance(before_amendment, MunicipalAssignment)
    assert before_amendment.status is AssignmentStatus.APPROVED
    assert planned(before_amendment) == Decimal(1000)
    assert planned(replay(events)) == Decimal(5)
    assert replay(events) == a
