"""Coverage on a real PostgreSQL: unique children aged 5-17 ÷ children aged 5-17 living in
the territories, per year, by territory, agency, direction and funding source."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from domain.errors import RuleViolationError
from interagency.application import InteragencyApplication
from interagency.services import Services
from projections.runtime import ProjectionWorker, Projector
from tests.conftest import wait_projected
from tests.integration.network_helpers import META, enrol, published_program, register


@pytest.fixture
def municipality() -> str:
    return f"District {uuid.uuid4().hex[:10]}"


@pytest.fixture
def tag() -> str:
    """A suffix that makes this test's child ids its own."""
    return uuid.uuid4().hex[:8]


def at_head(services: Services) -> None:
    wait_projected(services, services.app.head_position())


def population(
    app: InteragencyApplication, municipality: str, territory: str, year: int, children: int
) -> None:
    app.record_population(
        META,
        municipality=municipality,
        territory=territory,
        year=year,
        children_5_17=children,
        source="Rosstat estimate",
    )


def wide_program(app: InteragencyApplication, provider: UUID, **kw: Any) -> UUID:
    """Published, for ages 3-25: children outside 5-17 can enrol too."""
    return published_program(app, provider, min_age=3, max_age=25, capacity=100, **kw)


def slice_of(result: dict[str, Any], name: str) -> dict[str, tuple[int, int, Decimal | None]]:
    return {
        r["key"]: (r["children"], r["enrolments"], r["coverage_pct"]) for r in result[f"by_{name}"]
    }


def test_coverage_counts_unique_children_aged_5_to_17_in_the_year(
    services: Services, worker: ProjectionWorker, municipality: str, tag: str
) -> None:
    app = services.app
    centre = register(app, municipality, "Centre", agency="education")
    museum = register(app, municipality, "Museum", kind="culture", agency="culture")
    robots = wide_program(app, centre, title="Robots", direction="technical")
    painting = wide_program(app, museum, title="Painting", direction="artistic")
    population(app, municipality, "North", 2026, 100)
    population(app, municipality, "South", 2026, 50)
    population(app, municipality, "North", 2027, 120)

    # One child in two programs of two agencies: one child, two enrolments.
    enrol(app, robots, f"twice-{tag}", 2014, territory="North")
    enrol(app, painting, f"twice-{tag}", 2014, territory="North", funding="paid")
    enrol(app, robots, f"south-{tag}", 2010, territory="South", funding="municipal_assignment")
    # Too young and too old in 2026 (3 and 20): enrolled, but outside coverage.
    enrol(app, robots, f"young-{tag}", 2023, territory="North")
    enrol(app, robots, f"adult-{tag}", 2006, territory="North")
    # Studied in the autumn of 2026 only.
    autumn = enrol(app, painting, f"autumn-{tag}", 2012, territory="North")
    app.end_enrolment(META, painting, autumn, end_date=date(2026, 10, 31))
    # Starts in 2027: not covered in 2026.
    enrol(app, robots, f"later-{tag}", 2015, territory="North", start=date(2027, 2, 1))
    at_head(services)

    result = services.coverage.coverage(2026, municipality)
    assert {k: result[k] for k in ("population", "territories", "children", "enrolments")} == {
        "population": 150,
        "territories": 2,
        "children": 3,
        "enrolments": 4,
    }
    assert result["coverage_pct"] == Decimal("2.0")
    assert result["enrolments_per_child"] == Decimal("1.33")
    assert [
        (r["territory"], r["population"], r["children"], r["coverage_pct"])
        for r in result["by_territory"]
    ] == [("North", 100, 2, Decimal("2.0")), ("South", 50, 1, Decimal("2.0"))]
    # Slices divide by the whole population in scope; a child counts once per slice.
    assert slice_of(result, "agency") == {
        "culture": (2, 2, Decimal("1.3")),
        "education": (2, 2, Decimal("1.3")),
    }
    assert slice_of(result, "direction") == {
        "artistic": (2, 2, Decimal("1.3")),
        "technical": (2, 2, Decimal("1.3")),
    }
    assert slice_of(result, "funding_source") == {
        "certificate": (2, 2, Decimal("1.3")),
        "municipal_assignment": (1, 1, Decimal("0.7")),
        "paid": (1, 1, Decimal("0.7")),
    }

    # 2027: the autumn child has left, the later one has come; the young one is now 4,
    # still outside; the ages move on (the South child turns 17: still in).
    result = services.coverage.coverage(2027, municipality)
    assert (result["population"], result["children"], result["enrolments"]) == (120, 3, 4)
    # The South child's territory has no figure for 2027: counted, and flagged as such.
    assert result["children_without_population"] == 1
    assert result["coverage_pct"] == Decimal("2.5")
    by_territory = {r["territory"]: r for r in result["by_territory"]}
    # South has children enrolled but no population recorded for 2027: no ratio.
    assert (by_territory["South"]["population"], by_territory["South"]["children"]) == (None, 1)
    assert by_territory["South"]["coverage_pct"] is None
    assert (by_territory["North"]["children"], by_territory["North"]["coverage_pct"]) == (
        2,
        Decimal("1.7"),
    )

    # Before any enrolment and figure: no ratio rather than a division by zero.
    empty = services.coverage.coverage(2020, municipality)
    assert (empty["population"], empty["coverage_pct"], empty["enrolments_per_child"]) == (
        0,
        None,
        None,
    )
    # In 2040 the child who was 3 in 2026 is 17, still enrolled: the one child covered.
    late = services.coverage.coverage(2040, municipality)
    assert (late["children"], late["children_without_population"]) == (1, 1)


def test_a_child_in_two_municipalities_counts_once_in_the_whole(
    services: Services, worker: ProjectionWorker, tag: str
) -> None:
    app = services.app
    first, second = (f"District {uuid.uuid4().hex[:10]}" for _ in range(2))
    # A year of its own, long ago, so other tests' enrolments do not fall in it.
    year = 2003
    start, end = date(year, 9, 1), date(year, 12, 25)
    before = services.coverage.coverage(year)
    p1 = wide_program(app, register(app, first, "Centre 1"))
    p2 = wide_program(app, register(app, second, "Centre 2"), direction="natural_science")
    population(app, first, "Town", year, 40)
    population(app, second, "Village", year, 10)
    enrol(app, p1, f"both-{tag}", 1993, territory="Town", start=start, end=end)
    enrol(app, p2, f"both-{tag}", 1993, territory="Village", start=start, end=end)
    enrol(app, p2, f"only-{tag}", 1995, territory="Village", start=start, end=end)
    at_head(services)

    one = services.coverage.coverage(year, first)
    two = services.coverage.coverage(year, second)
    whole = services.coverage.coverage(year)
    assert (one["children"], one["population"], one["coverage_pct"]) == (1, 40, Decimal("2.5"))
    assert (two["children"], two["population"], two["coverage_pct"]) == (2, 10, Decimal("20.0"))
    # In the whole, the child of both municipalities is one child.
    assert whole["children"] - before["children"] == 2
    assert whole["enrolments"] - before["enrolments"] == 3
    assert whole["population"] - before["population"] == 50


def test_a_corrected_population_replaces_the_figure_of_its_year(
    services: Services, worker: ProjectionWorker, municipality: str, tag: str
) -> None:
    app = services.app
    program = wide_program(app, register(app, municipality, "Centre"))
    enrol(app, program, f"one-{tag}", 2015, territory="Centre")
    population(app, municipality, "Centre", 2026, 10)
    at_head(services)
    assert services.coverage.coverage(2026, municipality)["coverage_pct"] == Decimal("10.0")

    population(app, municipality, "Centre", 2026, 40)
    at_head(services)
    result = services.coverage.coverage(2026, municipality)
    assert (result["population"], result["coverage_pct"]) == (40, Decimal("2.5"))
    t = app.get_population(municipality, "Centre")
    assert t.children_5_17 == {2026: 40}


def test_a_rebuild_from_zero_gives_the_rows_and_figures_of_incremental_processing(
    services: Services, worker: ProjectionWorker, municipality: str, tag: str
) -> None:
    app = services.app
    centre = register(app, municipality, "Centre")
    robots = wide_program(app, centre)
    chess = wide_program(app, centre, title="Chess", direction="social_humanitarian")
    population(app, municipality, "North", 2026, 30)
    population(app, municipality, "North", 2026, 32)
    ids = [
        enrol(app, program, f"c{i}-{tag}", 2010 + i, territory="North")
        for i in range(4)
        for program in (robots, chess)
    ]
    # Ended right after enrolling (same batch) and long after (another batch).
    app.end_enrolment(META, chess, ids[1], end_date=date(2026, 11, 1))
    app.end_enrolment(META, robots, ids[0], end_date=date(2026, 12, 1))
    at_head(services)
    before = services.coverage.dump()
    figures = services.coverage.coverage(2026, municipality)
    assert all(before.values())
    assert (figures["children"], figures["enrolments"]) == (4, 8)

    small = Projector(services.coverage, app.pg_recorder, app.mapper, 3)
    small.reset()
    small.catch_up()
    at_head(services)

    assert services.coverage.dump() == before
    assert services.coverage.coverage(2026, municipality) == figures


# -- any enrolments: the figures of a plain count ---------------------------------------

Enrolment = tuple[int, int, int, int, int, int | None]  # child, program, territory, funding,
# start (days after 2025-01-01), length in days if ended


def expected_coverage(
    rows: list[tuple[str, int, str, str, str, str, date, date | None]],
    year: int,
    population_of: dict[str, int],
) -> dict[str, Any]:
    """Coverage counted by hand from the accepted enrolments."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    active = [
        r
        for r in rows
        if r[6] <= last and (r[7] is None or r[7] >= first) and 5 <= year - r[1] <= 17
    ]
    whole = sum(population_of.values())

    def unique(rs: list[Any]) -> int:
        return len({r[0] for r in rs})

    def pct(part: int, of: int) -> Decimal | None:
        return (
            None if not of else (Decimal(100) * part / of).quantize(Decimal("0.1"), "ROUND_HALF_UP")
        )

    return {
        "children": unique(active),
        "enrolments": len(active),
        "population": whole,
        "coverage_pct": pct(unique(active), whole),
        "by_territory": {
            t: (
                unique([r for r in active if r[2] == t]),
                pct(unique([r for r in active if r[2] == t]), n),
            )
            for t, n in population_of.items()
        },
        "by_agency": {a: unique([r for r in active if r[3] == a]) for a in {r[3] for r in active}},
        "by_direction": {
            d: unique([r for r in active if r[4] == d]) for d in {r[4] for r in active}
        },
        "by_funding_source": {
            f: unique([r for r in active if r[5] == f]) for f in {r[5] for r in active}
        },
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No shrinking: each step is a round trip to PostgreSQL.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    births=st.lists(st.integers(2005, 2023), min_size=4, max_size=4),
    enrolments=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 1),
            st.integers(0, 1),
            st.integers(0, 2),
            st.integers(0, 900),
            st.none() | st.integers(0, 400),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_coverage_equals_a_count_by_hand_for_any_enrolments(
    services: Services, worker: ProjectionWorker, births: list[int], enrolments: list[Enrolment]
) -> None:
    app = services.app
    municipality = f"District {uuid.uuid4().hex[:10]}"
    tag = uuid.uuid4().hex[:8]
    centre = register(app, municipality, "Centre", agency="education")
    museum = register(app, municipality, "Museum", kind="culture", agency="culture")
    programs = [
        (wide_program(app, centre, direction="technical"), "education", "technical"),
        (wide_program(app, museum, direction="artistic"), "culture", "artistic"),
    ]
    territories = ["North", "South"]
    fundings = ["municipal_assignment", "certificate", "paid"]
    population_of = {"North": 40, "South": 25}
    for name, n in population_of.items():
        population(app, municipality, name, 2026, n)
    accepted = []
    for child, program, territory, funding, start_days, length in enrolments:
        pid, agency, direction = programs[program]
        start = date(2025, 1, 1) + timedelta(days=start_days)
        end = None if length is None else start + timedelta(days=length)
        try:
            eid = enrol(
                app,
                pid,
                f"c{child}-{tag}",
                births[child],
                territory=territories[territory],
                funding=fundings[funding],
                start=start,
            )
        except RuleViolationError:
            continue  # the child is already enrolled there: refused, not counted
        if end is not None:
            app.end_enrolment(META, pid, eid, end_date=end)
        accepted.append(
            (
                f"c{child}-{tag}",
                births[child],
                territories[territory],
                agency,
                direction,
                fundings[funding],
                start,
                end,
            )
        )
    at_head(services)

    got = services.coverage.coverage(2026, municipality)
    want = expected_coverage(accepted, 2026, population_of)
    assert {k: got[k] for k in ("children", "enrolments", "population", "coverage_pct")} == {
        k: want[k] for k in ("children", "enrolments", "population", "coverage_pct")
    }
    assert {
        r["territory"]: (r["children"], r["coverage_pct"]) for r in got["by_territory"]
    } == want["by_territory"]
    for name in ("agency", "direction", "funding_source"):
        assert {r["key"]: r["children"] for r in got[f"by_{name}"]} == want[f"by_{name}"]
