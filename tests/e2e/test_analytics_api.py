"""The Analyst API over HTTP: each table's figures for a small scenario built through the
API, its filters, who reads it, its CSV export, and a CSV stream of 100,000 rows whose
memory does not grow with the row count."""

from __future__ import annotations

import csv
import io
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from interagency.cli_principals import add_with_token
from interagency.services import Services, migrate
from interagency.settings import ConnectionParams, Settings
from tests.conftest import settings_for
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    SETUP_META,
    approve_through,
    assert_problem,
    command,
    create_project,
    expect_ok,
    gate_body,
    official_headers,
    plan_deliverable,
    project_body,
    role_headers,
)
from tests.e2e.groups_helpers import staffed
from tests.e2e.test_assignments_api import FOUNDER, YEAR, approved
from tests.e2e.test_network_api import network

ANALYTICS = f"{API}/analytics"
ANALYST = role_headers("analyst")


def table(
    client: TestClient, name: str, position: int, headers: Any = None, **params: Any
) -> list[dict[str, Any]]:
    """The table's JSON items; checks that its CSV export (asked for either way) has the
    same header and rows, and that both answer the projection's position."""
    query = {**params, "min_position": position}
    if headers is None:
        headers = ANALYST
    response = client.get(f"{ANALYTICS}/{name}", params=query, headers=headers)
    body = expect_ok(response)
    assert body["total"] == len(body["items"])
    assert int(response.headers["X-Projection-Position"]) == body["position"] >= position
    for extra_params, extra_headers in (
        ({"format": "csv"}, {}),
        ({}, {"Accept": "text/csv"}),
    ):
        exported = client.get(
            f"{ANALYTICS}/{name}",
            params={**query, **extra_params},
            headers={**headers, **extra_headers},
        )
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        assert exported.headers["content-disposition"].endswith(
            f'filename="{name.replace("-", "_").replace("/", "_")}.csv"'
        )
        assert int(exported.headers["X-Projection-Position"]) >= body["position"]
        header, *rows = list(csv.reader(io.StringIO(exported.text)))
        assert header == body["columns"]
        assert rows == [[_cell(item[c]) for c in header] for item in body["items"]]
    items: list[dict[str, Any]] = body["items"]
    return items


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pick(rows: list[dict[str, Any]], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in rows]


# -- projects ------------------------------------------------------------------------------


def three_projects(client: TestClient, municipality: str) -> tuple[dict[str, str], int]:
    """Education+culture in stage 1; sport (lead)+education in stage 2; a cancelled one."""
    first = create_project(client, municipality, title="A first", agencies=["education", "culture"])
    d1 = plan_deliverable(client, first["id"], mechanism="regulation")
    approve_through(client, first["id"], d1["deliverable_id"])
    plan_deliverable(client, first["id"], mechanism="regulation", mandatory=False)

    second = create_project(
        client, municipality, title="B second", lead_agency="sport", agencies=["sport", "education"]
    )
    d2 = plan_deliverable(client, second["id"], mechanism="licensing")
    approve_through(client, second["id"], d2["deliverable_id"])
    command(client, second["id"], "gate/pass", gate_body(1))

    third = create_project(
        client,
        municipality,
        title="C third",
        lead_agency="culture",
        agencies=["education", "culture"],
    )
    last = command(client, third["id"], "cancel", {"reason": "Merged into another"})
    return {"first": first["id"], "second": second["id"], "third": third["id"]}, last["position"]


def test_projects_by_stage_and_agency(
    client: TestClient, municipality: str, settings: Settings
) -> None:
    _, at = three_projects(client, municipality)
    rows = table(client, "projects-by-stage", at, municipality=municipality)
    columns = ("stage", "status", "agency", "projects", "lead_projects")
    deliverables = ("deliverables_total", "deliverables_approved")
    assert pick(rows, *columns, *deliverables) == [
        ("social_ties_program", "active", None, 1, 1, 2, 1),
        ("social_ties_program", "active", "culture", 1, 0, 2, 1),
        ("social_ties_program", "active", "education", 1, 1, 2, 1),
        ("interaction_mechanisms", "active", None, 1, 1, 1, 1),
        ("interaction_mechanisms", "active", "education", 1, 0, 1, 1),
        ("interaction_mechanisms", "active", "sport", 1, 1, 1, 1),
        (None, "cancelled", None, 1, 1, 0, 0),
        (None, "cancelled", "culture", 1, 1, 0, 0),
        (None, "cancelled", "education", 1, 0, 0, 0),
    ]
    assert [r["stage_number"] for r in rows] == [1, 1, 1, 2, 2, 2, None, None, None]

    # agency: the projects it takes part in, and its own rows only
    sport = table(client, "projects-by-stage", at, municipality=municipality, agency="sport")
    assert pick(sport, *columns) == [
        ("interaction_mechanisms", "active", None, 1, 1),
        ("interaction_mechanisms", "active", "sport", 1, 1),
    ]
    # period: projects initiated within it
    today = settings.today()
    assert (
        table(
            client,
            "projects-by-stage",
            at,
            municipality=municipality,
            **{"from": today + timedelta(1)},
        )
        == []
    )
    assert (
        table(client, "projects-by-stage", at, municipality=municipality, to=today - timedelta(1))
        == []
    )
    around = {"from": today - timedelta(1), "to": today + timedelta(1)}
    assert table(client, "projects-by-stage", at, municipality=municipality, **around) == rows


def test_deliverables_by_mechanism(client: TestClient, municipality: str) -> None:
    _, at = three_projects(client, municipality)
    project = create_project(client, municipality, title="D overdue")
    plan_deliverable(client, project["id"], mechanism="monitoring", due_date="2020-01-31")
    rejected = plan_deliverable(client, project["id"], mechanism="monitoring", mandatory=False)
    command(
        client,
        project["id"],
        f"deliverables/{rejected['deliverable_id']}/submit",
        {"document_ref": "doc"},
    )
    at = command(
        client,
        project["id"],
        f"deliverables/{rejected['deliverable_id']}/reject",
        {"reason": "Incomplete"},
    )["position"]
    rows = table(client, "deliverables-by-mechanism", at, municipality=municipality)
    assert [r["mechanism"] for r in rows] == [
        "regulation",
        "licensing",
        "working_groups",
        "staff_development",
        "monitoring",
        "incentives",
        "strategic_priorities",
        "consumer_information",
    ]
    by = {r["mechanism"]: r for r in rows}
    columns = (
        "deliverables",
        "projects",
        "mandatory",
        "planned",
        "submitted",
        "approved",
        "rejected",
        "overdue",
        "approved_pct",
    )
    assert pick([by["regulation"]], *columns) == [(2, 1, 1, 1, 0, 1, 0, 0, "50.0")]
    assert pick([by["licensing"]], *columns) == [(1, 1, 1, 0, 0, 1, 0, 0, "100.0")]
    assert pick([by["monitoring"]], *columns) == [(2, 1, 1, 1, 0, 0, 1, 1, "0.0")]
    assert pick([by["incentives"]], *columns) == [(0, 0, 0, 0, 0, 0, 0, 0, None)]
    sport = table(
        client, "deliverables-by-mechanism", at, municipality=municipality, agency="sport"
    )
    assert {r["mechanism"]: r["deliverables"] for r in sport if r["deliverables"]} == {
        "licensing": 1,
        "monitoring": 2,
    }


def test_stage_durations_planned_against_actual(
    client: TestClient, municipality: str, settings: Settings
) -> None:
    projects = [
        create_project(client, municipality, title=title) for title in ("P10", "P20", "P60")
    ]
    at = projects[-1]["position"]
    entered = {
        r["title"]: date.fromisoformat(r["entered_on"])
        for r in table(client, "stage-durations/projects", at, municipality=municipality)
    }
    # The plan of stage 1: its latest due date, 10, 20 and 60 days after it was entered.
    for project, (title, days) in zip(
        projects, (("P10", 10), ("P20", 20), ("P60", 60)), strict=True
    ):
        for offset in (days // 2, days):
            due = (entered[title] + timedelta(days=offset)).isoformat()
            d = plan_deliverable(client, project["id"], due_date=due)
            if title != "P60":
                approve_through(client, project["id"], d["deliverable_id"])
    for project in projects[:2]:
        at = command(client, project["id"], "gate/pass", gate_body(1))["position"]
    # P10's stage 2 plan was due before the stage began: it is overdue from the start.
    due = (entered["P10"] - timedelta(days=5)).isoformat()
    at = plan_deliverable(client, projects[0]["id"], "interaction_mechanisms", due_date=due)[
        "position"
    ]

    details = table(client, "stage-durations/projects", at, municipality=municipality)
    today = settings.today()
    assert pick(details, "title", "stage", "status", "planned_days") == [
        ("P10", "social_ties_program", "completed", 10),
        ("P10", "interaction_mechanisms", "active", -5),
        ("P20", "social_ties_program", "completed", 20),
        ("P20", "interaction_mechanisms", "active", None),
        ("P60", "social_ties_program", "active", 60),
    ]
    for r in details:
        entered_on = date.fromisoformat(r["entered_on"])
        end = date.fromisoformat(r["left_on"]) if r["left_on"] else today
        assert r["actual_days"] == (end - entered_on).days
        if r["planned_end"] is not None:
            planned_end = date.fromisoformat(r["planned_end"])
            assert r["planned_days"] == (planned_end - entered_on).days
            assert r["overrun_days"] == (end - planned_end).days
        else:
            assert r["overrun_days"] is None
    completed = [r for r in details if r["status"] == "completed"]
    actual_mean = Decimal(sum(r["actual_days"] for r in completed)) / 2
    overrun_mean = Decimal(sum(r["overrun_days"] for r in completed)) / 2

    stages = table(client, "stage-durations", at, municipality=municipality)
    assert [s["stage"] for s in stages] == [
        "social_ties_program",
        "interaction_mechanisms",
        "regulatory_base",
        "interagency_projects",
    ]
    first, second, third, _ = stages
    counts = ("projects_entered", "completed", "active", "with_plan")
    assert pick([first, second, third], *counts) == [(3, 2, 1, 3), (2, 0, 2, 1), (0, 0, 0, 0)]
    assert (first["planned_days_mean"], first["planned_days_median"]) == ("30.0", "20.0")
    assert Decimal(first["actual_days_mean"]) == actual_mean.quantize(Decimal("0.1"))
    assert Decimal(first["actual_days_median"]) == actual_mean.quantize(Decimal("0.1"))
    assert Decimal(first["overrun_days_mean"]) == overrun_mean.quantize(Decimal("0.1"))
    assert (first["completed_late"], first["active_overdue"]) == (0, 0)
    assert (second["planned_days_mean"], second["planned_days_median"]) == ("-5.0", "-5.0")
    assert (second["actual_days_mean"], second["completed_late"]) == (None, 0)
    assert second["active_overdue"] == 1
    assert third["planned_days_mean"] is None

    # agency and period filters
    culture = table(client, "stage-durations", at, municipality=municipality, agency="health")
    assert [s["projects_entered"] for s in culture] == [0, 0, 0, 0]
    later = table(
        client,
        "stage-durations",
        at,
        municipality=municipality,
        **{"from": (today + timedelta(days=1)).isoformat()},
    )
    assert [s["projects_entered"] for s in later] == [0, 0, 0, 0]


# -- working groups ----------------------------------------------------------------------


def test_working_group_effectiveness_without_names(client: TestClient, municipality: str) -> None:
    group = staffed(client, municipality)
    minutes = group.hold_meeting([], held_on="2027-02-03")
    april = group.meeting("2027-04-10")
    group.attend(april, ("chair", "secretary"))
    items = {
        deadline: str(
            group.post(
                "action-items",
                {"description": f"Due {deadline}", "owner": "Office", "deadline": deadline},
                201,
            )["created_id"]
        )
        for deadline in ("2020-03-01", "2027-03-01", "2027-05-01")
    }
    group.post(f"action-items/{items['2027-03-01']}/complete", {"done_on": "2027-02-28"})
    group.post(f"action-items/{items['2027-05-01']}/complete", {"done_on": "2027-05-03"})
    at = group.last["position"]
    quiet = staffed(client, municipality, name="A quiet group")
    at = quiet.last["position"]

    rows = table(client, "working-groups", at, municipality=municipality)
    assert [r["group_id"] for r in rows] == [quiet.id, group.id]
    row = rows[1]
    assert (row["members"], row["voting_members"]) == (5, 4)
    assert pick(
        [row], "meetings", "meetings_with_attendance", "meetings_quorate", "protocols_signed"
    ) == [(2, 2, 1, 1)]
    # 4 of 5 present at the first meeting, 2 of 5 at the second: 80.0 and 40.0
    assert row["attendance_rate_mean"] == "60.0"
    assert pick([row], "motions", "motions_adopted", "decisions", "decisions_in_force") == [
        (1, 1, 1, 1)
    ]
    assert pick(
        [row],
        "action_items",
        "action_items_done",
        "action_items_done_on_time",
        "action_items_overdue",
        "completion_pct",
    ) == [(3, 2, 1, 1, "66.7")]
    assert minutes.decision_id
    assert rows[0]["meetings"] == 0
    assert rows[0]["attendance_rate_mean"] is None
    assert rows[0]["completion_pct"] is None
    # no member's name in any answer, JSON or CSV
    for person in ("Person chair", "Person doctor"):
        for fmt in ("json", "csv"):
            answer = client.get(
                f"{ANALYTICS}/working-groups",
                params={"municipality": municipality, "format": fmt},
                headers=ANALYST,
            )
            assert person not in answer.text

    # period: meetings held, decisions taken and items due within it
    spring = table(
        client,
        "working-groups",
        at,
        municipality=municipality,
        **{"from": "2027-03-01", "to": "2027-12-31"},
    )[1]
    assert pick([spring], "meetings", "motions", "decisions", "action_items") == [(1, 0, 0, 2)]
    assert spring["attendance_rate_mean"] == "40.0"
    # agency: groups with a member of that agency
    assert (
        table(client, "working-groups", at, municipality=municipality, agency="youth_policy") == []
    )
    assert len(table(client, "working-groups", at, municipality=municipality, agency="health")) == 2


# -- municipal assignments ---------------------------------------------------------------


def test_assignment_execution_and_institutions_outside_tolerance(
    client: TestClient, municipality: str
) -> None:
    short = approved(client, municipality, institution="A short")
    exact = approved(client, municipality, institution="B exact")
    approved(client, municipality, founder="Отдел культуры", agency="culture", institution="C")
    for aid, actual, reasons in ((short, "400", {"1": "Ремонт здания"}), (exact, "500", {})):
        at = expect_ok(
            client.post(
                f"{API}/assignments/{aid}/reports",
                json={"period": "h1", "actual": {"1": actual}, "reasons": reasons},
                headers=FOUNDER,
            ),
            201,
        )["position"]

    rows = table(client, "assignment-execution", at, municipality=municipality)
    keys = ("fiscal_year", "agency", "direction", "unit", "report_period", "assignments", "lines")
    assert pick(rows, *keys) == [
        (YEAR, "culture", "technical", "person_hours", None, 1, 1),
        (YEAR, "education", "technical", "person_hours", "h1", 2, 2),
    ]
    culture, education = rows
    assert (culture["planned_due"], culture["actual"], culture["deviation_pct"]) == (
        None,
        None,
        None,
    )
    figures = (
        "planned_initial",
        "planned",
        "planned_due",
        "actual",
        "deviation_pct",
        "subsidy",
        "subsidy_at_risk",
    )
    assert [Decimal(education[c]) for c in figures] == [
        Decimal(2000),
        Decimal(2000),
        Decimal(1000),
        Decimal(900),
        Decimal("-10.00"),
        Decimal(200000),
        Decimal(7500),
    ]
    assert education["deviation_pct"] == "-10.00"
    assert education["lines_beyond_tolerance"] == 1

    outside = table(client, "assignments-outside-tolerance", at, municipality=municipality)
    assert pick(outside, "assignment_id", "institution", "report_period", "line_id") == [
        (short, "A short", "h1", "1")
    ]
    assert Decimal(outside[0]["deviation_pct"]) == Decimal(-20)
    assert Decimal(outside[0]["subsidy_at_risk"]) == Decimal(7500)

    # agency, and period: fiscal years within it
    assert [
        r["agency"]
        for r in table(
            client, "assignment-execution", at, municipality=municipality, agency="culture"
        )
    ] == ["culture"]
    assert (
        table(
            client,
            "assignment-execution",
            at,
            municipality=municipality,
            **{"from": f"{YEAR + 1}-01-01"},
        )
        == []
    )
    assert (
        len(
            table(
                client,
                "assignment-execution",
                at,
                municipality=municipality,
                **{"from": f"{YEAR}-06-01", "to": f"{YEAR}-06-30"},
            )
        )
        == 2
    )
    assert (
        table(
            client,
            "assignments-outside-tolerance",
            at,
            municipality=municipality,
            to=f"{YEAR - 1}-12-31",
        )
        == []
    )


# -- the network and coverage ------------------------------------------------------------


def test_network_programs_and_coverage(client: TestClient, municipality: str) -> None:
    net = network(client, municipality)
    school = net.organization("School", kind="general_education")
    centre = net.organization("Centre")
    museum = net.organization("Museum", kind="culture", agency="culture")
    robots = net.program(centre, "Robots", min_age=5, max_age=17, capacity=10)
    painting = net.program(museum, "Painting", direction="artistic", min_age=5, max_age=17)
    net.program(centre, "Drones", publish=False)
    engineering = net.program(school, "Engineering", partners=[centre], min_age=12, max_age=17)
    aid = net.agreement("NA-1", [(school, "base"), (centre, "participant")], [engineering])
    net.post(f"/programs/{engineering}/publish", {"agreement_id": aid})
    for territory, children in (("North", 30), ("South", 10)):
        net.post(
            "/population",
            {
                "municipality": municipality,
                "territory": territory,
                "year": 2026,
                "children_5_17": children,
                "source": "Rosstat",
            },
        )
    tag = uuid.uuid4().hex[:8]
    net.enrol(robots, f"one-{tag}", 2015, territory="North")
    net.enrol(painting, f"one-{tag}", 2015, territory="North", funding_source="paid")
    net.enrol(robots, f"two-{tag}", 2012, territory="South")

    programs = table(client, "network-programs", net.position, municipality=municipality)
    columns = (
        "agency",
        "direction",
        "form",
        "programs",
        "draft",
        "approved",
        "published",
        "in_catalogue",
        "under_agreement_in_force",
        "capacity",
        "active_enrolments",
        "places_left",
    )
    assert pick(programs, *columns) == [
        ("culture", "artistic", "standalone", 1, 0, 0, 1, 1, 0, 20, 1, 19),
        ("education", "technical", "network", 1, 0, 0, 1, 1, 1, 20, 0, 20),
        ("education", "technical", "standalone", 2, 1, 0, 1, 1, 0, 10, 2, 8),
    ]
    assert [
        r["form"]
        for r in table(
            client, "network-programs", net.position, municipality=municipality, agency="culture"
        )
    ] == ["standalone"]

    cover = table(client, "coverage", net.position, municipality=municipality)
    assert pick(
        cover,
        "year",
        "slice",
        "key",
        "population",
        "children",
        "enrolments",
        "coverage_pct",
        "enrolments_per_child",
    ) == [
        (2026, "total", None, 40, 2, 3, "5.0", "1.50"),
        (2026, "agency", "culture", 40, 1, 1, "2.5", "1.00"),
        (2026, "agency", "education", 40, 2, 2, "5.0", "1.00"),
        (2026, "direction", "artistic", 40, 1, 1, "2.5", "1.00"),
        (2026, "direction", "technical", 40, 2, 2, "5.0", "1.00"),
        (2026, "funding_source", "certificate", 40, 2, 2, "5.0", "1.00"),
        (2026, "funding_source", "paid", 40, 1, 1, "2.5", "1.00"),
    ]
    assert {r["municipality"] for r in cover} == {municipality}
    # the same figures as GET /coverage
    same = net.get("/coverage", year=2026, municipality=municipality)
    assert (same["children"], same["coverage_pct"]) == (2, "5.0")
    culture = table(client, "coverage", net.position, municipality=municipality, agency="culture")
    assert pick(culture, "slice", "key", "children")[:2] == [
        ("total", None, 1),
        ("agency", "culture", 1),
    ]
    assert table(client, "coverage", net.position, municipality=municipality, to="2025-12-31") == []
    assert (
        table(client, "coverage", net.position, municipality=municipality, **{"from": "2026-01-01"})
        == cover
    )


# -- who reads, and bad requests -----------------------------------------------------------

PATHS = (
    "projects-by-stage",
    "stage-durations",
    "stage-durations/projects",
    "deliverables-by-mechanism",
    "working-groups",
    "assignment-execution",
    "assignments-outside-tolerance",
    "network-programs",
    "coverage",
)


def test_officials_are_pinned_to_their_municipality_analysts_read_admins_do_not(
    client: TestClient, municipality: str
) -> None:
    _, at = three_projects(client, municipality)
    elsewhere = f"Not {municipality}"
    stranger = official_headers("education", municipality=elsewhere)
    expect_ok(client.post(f"{API}/projects", json=project_body(elsewhere), headers=stranger), 201)
    own = official_headers("culture")
    pinned_analyst = role_headers("analyst", municipality=municipality, actor_id="pinned-analyst")
    admin = role_headers("admin")
    mine = table(client, "projects-by-stage", at, own)
    # asked or not, the official's own municipality only
    assert mine == table(client, "projects-by-stage", at, own, municipality=municipality)
    assert mine == table(client, "projects-by-stage", at, ANALYST, municipality=municipality)
    assert mine == table(client, "projects-by-stage", at, pinned_analyst)
    assert sum(r["projects"] for r in mine if r["agency"] is None) == 3
    theirs = table(client, "projects-by-stage", at, stranger)
    assert pick(theirs, "stage", "agency", "projects") == [
        ("social_ties_program", None, 1),
        ("social_ties_program", "culture", 1),
        ("social_ties_program", "education", 1),
        ("social_ties_program", "sport", 1),
    ]
    for path in PATHS:
        url = f"{ANALYTICS}/{path}"
        for fmt in ("json", "csv"):
            problem = assert_problem(
                client.get(
                    url, params={"municipality": municipality, "format": fmt}, headers=stranger
                ),
                403,
            )
            assert problem["rule"] == "own_municipality"
        assert assert_problem(client.get(url, headers=ANONYMOUS), 401)["reason"] == "missing"
        assert_problem(client.get(url, headers=admin), 403)
        expect_ok(client.get(url, params={"municipality": municipality}, headers=ANALYST))


def test_bad_filters_answer_422_and_lagging_reads_503(
    client: TestClient, pg: ConnectionParams, services: Services
) -> None:
    for path in PATHS:
        problem = assert_problem(
            client.get(f"{ANALYTICS}/{path}", params={"format": "xml"}, headers=ANALYST), 422
        )
        assert "format" in problem["detail"] or problem.get("errors"), problem
        if path != "network-programs":
            reversed_period = {"from": "2027-03-01", "to": "2027-02-28"}
            problem = assert_problem(
                client.get(f"{ANALYTICS}/{path}", params=reversed_period, headers=ANALYST), 422
            )
            assert "after its end" in problem["detail"]
    for params in (
        {"agency": "police"},
        {"limit": 0},
        {"limit": 10_001},
        {"offset": -1},
        {"min_position": -1},
        {"from": "2027-02-30"},
        {"municipality": "x" * 201},
    ):
        response = client.get(f"{ANALYTICS}/working-groups", params=params, headers=ANALYST)
        assert_problem(response, 422)
    far = services.app.head_position() + 1_000_000
    with TestClient(create_app(settings_for(pg, read_wait_seconds=0.2), services)) as impatient:
        for fmt in ("json", "csv"):
            problem = assert_problem(
                impatient.get(
                    f"{ANALYTICS}/coverage",
                    params={"format": fmt, "min_position": far},
                    headers=ANALYST,
                ),
                503,
            )
            assert (problem["projection"], problem["min_position"]) == ("coverage", far)


def test_paging_a_json_table(client: TestClient, municipality: str) -> None:
    _, at = three_projects(client, municipality)
    whole = table(client, "stage-durations/projects", at, municipality=municipality)
    assert len(whole) == 4
    page = expect_ok(
        client.get(
            f"{ANALYTICS}/stage-durations/projects",
            params={"municipality": municipality, "limit": 2, "offset": 1},
            headers=ANALYST,
        )
    )
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert page["items"] == whole[1:3]
    # CSV is the whole table, whatever the page asked
    exported = client.get(
        f"{ANALYTICS}/stage-durations/projects",
        params={"municipality": municipality, "limit": 2, "format": "csv"},
        headers=ANALYST,
    )
    assert len(exported.text.splitlines()) == 1 + 4
    # JSON wins over CSV in Accept when it comes first or ranks higher
    for accept, csv_expected in (
        ("application/json, text/csv", False),
        ("text/csv;q=0.5, application/json", False),
        ("text/csv, */*;q=0.1", True),
        ("text/html", False),
    ):
        answer = client.get(
            f"{ANALYTICS}/stage-durations/projects",
            params={"municipality": municipality},
            headers={**ANALYST, "Accept": accept},
        )
        assert answer.headers["content-type"].startswith("text/csv") is csv_expected, accept


# -- a CSV stream of 100,000 rows --------------------------------------------------------


def test_a_csv_export_streams_100000_rows_in_memory_that_does_not_grow_with_them(
    fresh_database: Callable[[], ConnectionParams],
) -> None:
    """One projection table filled by SQL (the analyst tables only read): 10,000 rows, then
    100,000; the peak of Python memory while each is streamed is about the same, and the
    rows come from a server-side cursor (its FETCHes are seen on the server)."""
    params = fresh_database()
    settings = settings_for(params)
    migrate(settings, params)
    with Services(settings, params) as own, TestClient(create_app(settings, own)) as c:
        issued = add_with_token(
            own.app,
            SETUP_META,
            name="memory-analyst",
            role="analyst",
            agency=None,
            municipality=None,
            label=None,
            expires_on=None,
            today=settings.today(),
        )
        headers = {"Authorization": f"Bearer {issued.token}"}
        with psycopg.connect(params.conninfo(), autocommit=True) as conn:

            def fill(first: int, last: int) -> None:
                """Projects ``first`` to ``last``, each in its first stage since today."""
                conn.execute(
                    "INSERT INTO project_summary (project_id, title, goal, municipality, "
                    "lead_agency, agencies, status, active_stage, stage_number, version, "
                    "position, initiated_at, updated_at) "
                    "SELECT gen_random_uuid(), 'Project ' || n, 'Goal', 'Memory district', "
                    "'education', ARRAY['education', 'culture'], 'active', "
                    "'social_ties_program', 1, 1, n, now(), now() "
                    "FROM generate_series(%s::int, %s::int) AS n",
                    (first, last),
                )
                conn.execute(
                    "INSERT INTO stage_progress (project_id, stage, stage_number, status, "
                    "entered_at) SELECT project_id, 'social_ties_program', 1, 'active', "
                    "initiated_at FROM project_summary WHERE position BETWEEN %s AND %s",
                    (first, last),
                )

            def stream(traced: bool = True) -> tuple[int, int, int]:
                """Rows and bytes received, and the peak of Python memory meanwhile."""
                rows = size = 0
                fetching: list[str] = []
                if traced:
                    tracemalloc.start()
                try:
                    with c.stream(
                        "GET",
                        f"{ANALYTICS}/stage-durations/projects",
                        params={"format": "csv"},
                        headers=headers,
                    ) as response:
                        assert response.status_code == 200
                        for chunk in response.iter_bytes():
                            if not fetching:
                                fetching.extend(server_cursors(conn, params.dbname))
                            rows += chunk.count(b"\n")
                            size += len(chunk)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                assert fetching, "no FETCH from a server-side cursor was seen"
                return rows - 1, size, peak

            fill(1, 10_000)
            stream(traced=False)  # warm-up: first-time imports and caches are not counted
            small_rows, _, small_peak = stream()
            fill(10_001, 100_000)
            large_rows, large_size, large_peak = stream()

    assert (small_rows, large_rows) == (10_000, 100_000)
    # Ten times the rows, not ten times the memory: the peak is that of one batch of the
    # cursor and one chunk of CSV, whatever the row count, and far below the CSV's size.
    assert large_peak < 1.25 * small_peak + 500_000, (small_peak, large_peak)
    assert large_peak < large_size / 4, (large_peak, large_size)


def server_cursors(conn: psycopg.Connection[Any], dbname: str) -> list[str]:
    """Statements of other sessions of ``dbname`` that fetch from a named cursor."""
    rows = conn.execute(
        "SELECT query FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND query LIKE 'FETCH FORWARD%%'",
        (dbname,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def test_an_abandoned_csv_stream_gives_its_connection_back(
    client: TestClient, municipality: str
) -> None:
    """CSV reads dropped after their first chunk, more of them than the pool has
    connections: each gives its connection back, so a read after them still answers."""
    _, at = three_projects(client, municipality)
    for _ in range(20):
        with client.stream(
            "GET",
            f"{ANALYTICS}/stage-durations/projects",
            params={"format": "csv", "min_position": at},
            headers=ANALYST,
        ) as response:
            assert response.status_code == 200
            next(response.iter_bytes())
    assert len(table(client, "stage-durations/projects", at, municipality=municipality)) == 4
