"""Properties of redistribution between assignments and of the deviation arithmetic.

Random sequences of random redistributions (balanced or not, some too large, some across
founders without a budget basis, some for years outside the assignments) among 3-6
assignments: the test keeps its own record of every planned volume and checks the
aggregates against it, and against the totals it started with, after every step.
Deviation and period shares are checked against their definitions in exact fractions.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import uuid4

from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.assignment import (
    Leg,
    MunicipalAssignment,
    ReportPeriod,
    VolumeUnit,
    deviation_pct,
    plan_redistribution,
)
from domain.errors import DomainError
from tests.unit.conftest import META
from tests.unit.test_assignment import (
    FOUNDER,
    FY,
    OTHER_FOUNDER,
    REG,
    approved,
    assignment_state,
    line,
)

FAST = settings(max_examples=100, deadline=None)
YEARS = (FY, FY + 1, FY + 2)

volumes = st.decimals(min_value=0, max_value=2000, places=2)
costs = st.decimals(min_value=0, max_value=50000, places=2)
deltas = st.decimals(min_value=Decimal("0.01"), max_value=1500, places=2)


@st.composite
def institutions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "founder": draw(st.sampled_from([FOUNDER, FOUNDER, OTHER_FOUNDER])),
        "cost": draw(costs),
        "planned": {y: draw(volumes) for y in YEARS},
    }


@st.composite
def redistributions(draw: st.DrawFn, n: int) -> dict[str, Any]:
    """Legs among ``n`` assignments: balanced by construction unless ``skew`` is drawn."""
    chosen = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=n, unique=True))
    leaving = draw(st.integers(1, len(chosen) - 1))
    amounts = [draw(deltas) for _ in chosen[:-1]]
    signed = [-d if i < leaving else d for i, d in enumerate(amounts)]
    last = -sum(signed, Decimal(0))
    skew = draw(st.sampled_from([Decimal(0)] * 4 + [Decimal("0.01"), Decimal(-5)]))
    return {
        "legs": list(zip(chosen, [*signed, last + skew], strict=True)),
        "year": draw(st.sampled_from([*YEARS, FY, FY - 1, FY + 3])),
        "budget_basis": draw(st.sampled_from([None, "Решение Думы № 45", "  "])),
    }


def check_invariants(
    group: list[MunicipalAssignment],
    model: list[dict[int, Decimal]],
    totals: dict[int, Decimal],
) -> None:
    """The plans are the test's record, never negative, and each year's total is the same."""
    for a, m in zip(group, model, strict=True):
        found = a.line_for(REG, VolumeUnit.PERSON_HOURS)
        assert found is not None
        assert found.planned == m
        assert all(v >= 0 for v in found.planned.values())
    for y in YEARS:
        planned = (a.lines["1"].planned[y] for a in group)
        assert sum(planned, Decimal(0)) == totals[y]


@FAST
@given(data=st.data())
def test_random_redistributions_conserve_volume_exactly_and_refusals_change_nothing(
    data: st.DataObject,
) -> None:
    # given 3-6 approved assignments of the same service, under one or two founders
    specs = data.draw(st.lists(institutions(), min_size=3, max_size=6), label="institutions")
    group: list[MunicipalAssignment] = [
        approved(
            founder=s["founder"],
            lines=[
                line(
                    normative_cost=str(s["cost"]),
                    planned={str(y): str(v) for y, v in s["planned"].items()},
                )
            ],
        )
        for s in specs
    ]
    by_id = {a.id: a for a in group}
    model = [dict(s["planned"]) for s in specs]  # the test's own record of the plans
    totals = {y: sum((m[y] for m in model), Decimal(0)) for y in YEARS}
    steps = data.draw(st.lists(redistributions(len(group)), max_size=12), label="steps")
    for step in steps:
        legs = [Leg(group[i].id, delta) for i, delta in step["legs"]]
        before = [assignment_state(a) for a in group]
        # when
        try:
            record = plan_redistribution(
                META,
                redistribution_id=uuid4(),
                assignments=by_id,
                legs=legs,
                registry_number=REG,
                unit="person_hours",
                year=step["year"],
                budget_basis=step["budget_basis"],
            )
        except DomainError as refused:
            event(f"refused: {refused.extra.get('rule') or refused.extra.get('field')}")
            # then a refusal changed no assignment at all
            assert [assignment_state(a) for a in group] == before
            check_invariants(group, model, totals)
            continue
        event("accepted")
        # then the accepted legs are what the test asked for...
        year = step["year"]
        assert year in YEARS
        assert sum((leg.delta for leg in legs), Decimal(0)) == 0
        founders = {specs[i]["founder"] for i, _ in step["legs"]}
        assert record.cross_founder is (len(founders) > 1)
        if record.cross_founder:
            assert record.budget_basis == "Решение Думы № 45"
        for i, delta in step["legs"]:
            model[i][year] = model[i].get(year, Decimal(0)) + delta
        # ...and the subsidy moved at each institution's own normative cost
        expected = sum((delta * specs[i]["cost"] for i, delta in step["legs"]), Decimal(0))
        assert sum((Decimal(leg["subsidy_delta"]) for leg in record.legs), Decimal(0)) == expected
        assert [Decimal(leg["delta"]) for leg in record.legs] == [d for _, d in step["legs"]]
        for i, delta in step["legs"]:
            (leg_event,) = group[i].collect_events()
            assert isinstance(leg_event, MunicipalAssignment.VolumeRedistributed)
            assert Decimal(leg_event.subsidy_delta) == delta * specs[i]["cost"]
        check_invariants(group, model, totals)
    for a, m in zip(group, model, strict=True):
        assert a.lines["1"].planned == m
        assert a.subsidy(FY) == m[FY] * a.lines["1"].normative_cost


def by_definition(actual: Decimal, planned: Decimal) -> Decimal:
    """(actual - planned) / planned x 100 in exact fractions, rounded half-even to 0.01."""
    if planned == 0:
        return Decimal(0) if actual == 0 else Decimal(100)
    exact = (Fraction(actual) - Fraction(planned)) / Fraction(planned) * 100
    rounded = round(exact, 2)
    return Decimal(rounded.numerator) / Decimal(rounded.denominator)


@FAST
@given(
    actual=st.decimals(min_value=0, max_value=10**6, places=2),
    planned=st.decimals(min_value=0, max_value=10**6, places=3),
)
def test_deviation_pct_is_the_relative_difference_in_percent_to_a_hundredth(
    actual: Decimal, planned: Decimal
) -> None:
    d = deviation_pct(actual, planned)
    assert d == by_definition(actual, planned)
    assert d.as_tuple().exponent in (-2, 0)
    if planned > 0:
        assert (d > 0) == (actual > planned + planned * Decimal("0.00005"))
        assert d >= -100


MONTHS = {ReportPeriod.Q1: 3, ReportPeriod.H1: 6, ReportPeriod.M9: 9, ReportPeriod.YEAR: 12}


@FAST
@given(
    period=st.sampled_from(list(ReportPeriod)),
    annual=st.decimals(min_value=0, max_value=10**5, places=2),
    actual=st.decimals(min_value=0, max_value=10**5, places=2),
    allowed=st.decimals(min_value=0, max_value=100, places=1),
)
def test_a_report_deviates_from_the_months_elapsed_share_of_the_annual_plan(
    period: ReportPeriod, annual: Decimal, actual: Decimal, allowed: Decimal
) -> None:
    # the share is the months elapsed over twelve
    assert Fraction(period.share) == Fraction(MONTHS[period], 12)
    # given an assignment of that annual plan and tolerance
    a = approved(
        lines=[
            line(
                planned={str(FY): str(annual)},
                allowed_deviation_pct=str(allowed),
                quality=[],
            )
        ]
    )
    due = Fraction(annual) * Fraction(MONTHS[period], 12)
    expected = by_definition(actual, Decimal(due.numerator) / Decimal(due.denominator))
    # when
    beyond = a.report_execution(
        META,
        report_id=uuid4(),
        period=period.value,
        actual={"1": actual},
        reasons={"1": "Причина"},
    )
    # then
    (report,) = a.reports.values()
    assert report.deviation["1"] == expected
    assert beyond == (["1"] if abs(expected) > allowed else [])
    assert report.reasons == ({"1": "Причина"} if beyond else {})
