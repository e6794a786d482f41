"""Every list is paged: walking the pages yields each row once, the total is right, and a
page larger than allowed is a 422.

Projection lists and the principals take ``limit`` and ``offset`` and answer ``total``;
an aggregate's history takes ``after_version`` and ``limit`` and answers
``next_after_version`` (null on the last page).
"""

from __future__ import annotations

import math
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interagency.settings import Settings
from tests.e2e.conftest import (
    API,
    assert_problem,
    create_project,
    expect_ok,
    plan_deliverable,
    role_headers,
)
from tests.e2e.groups_helpers import establish
from tests.e2e.test_assignments_api import FOUNDER, approved
from tests.e2e.test_network_api import network

ADMIN = role_headers("admin")


def walk(
    client: TestClient,
    path: str,
    limit: int,
    headers: Any = None,
    **params: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item, page by page of ``limit``; and the pages."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = expect_ok(
            client.get(
                f"{API}{path}", params={**params, "limit": limit, "offset": offset}, headers=headers
            )
        )
        assert (page["limit"], page["offset"]) == (limit, offset)
        assert len(page["items"]) == min(limit, page["total"] - offset)
        items.extend(page["items"])
        pages.append(page)
        offset += limit
        if offset >= page["total"]:
            break
    assert len(pages) == max(1, math.ceil(pages[0]["total"] / limit))
    assert len({p["total"] for p in pages}) == 1
    # Past the end: no items, the same total.
    beyond = expect_ok(
        client.get(
            f"{API}{path}", params={**params, "limit": limit, "offset": offset}, headers=headers
        )
    )
    assert (beyond["items"], beyond["total"]) == ([], pages[0]["total"])
    return items, pages


def whole(
    client: TestClient, path: str, headers: Any = None, **params: Any
) -> list[dict[str, Any]]:
    """The list in one page of the largest size."""
    page = expect_ok(client.get(f"{API}{path}", params={**params, "limit": 200}, headers=headers))
    assert len(page["items"]) == page["total"]
    items: list[dict[str, Any]] = page["items"]
    return items


def walk_history(client: TestClient, url: str, limit: int) -> list[dict[str, Any]]:
    """Every event of a history, page by page of ``limit``, following the cursor."""
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = expect_ok(client.get(url, params={"after_version": after, "limit": limit}))
        assert len(page["events"]) <= limit
        assert [e["version"] for e in page["events"]] == list(
            range(after + 1, after + 1 + len(page["events"]))
        )
        events.extend(page["events"])
        if page["next_after_version"] is None:
            break
        assert len(page["events"]) == limit
        assert page["next_after_version"] == page["events"][-1]["version"]
        after = page["next_after_version"]
    return events


# -- projection lists -------------------------------------------------------------------


def test_the_dashboard_pages_lines_beyond_tolerance_and_sums_the_risk_over_all(
    client: TestClient, municipality: str
) -> None:
    # (500 due * 0.95 tolerated - actual) * 100 per person-hour; three ties on the risk.
    actuals = {"400": Decimal(7500), "300": Decimal(17500), "450": Decimal(2500)}
    reported = []
    for actual in ("400", "400", "300", "400", "450"):
        aid = approved(client, municipality)
        report = expect_ok(
            client.post(
                f"{API}/assignments/{aid}/reports",
                json={"period": "h1", "actual": {"1": actual}, "reasons": {"1": "Ремонт"}},
                headers=FOUNDER,
            ),
            201,
        )
        reported.append((aid, actuals[actual]))
    params = {"municipality": municipality, "min_position": report["position"]}
    path = "/assignments/outside-tolerance"

    items, pages = walk(client, path, 2, **params)
    assert items == whole(client, path, **params)
    assert sorted(i["assignment_id"] for i in items) == sorted(a for a, _ in reported)
    assert [Decimal(i["subsidy_at_risk"]) for i in items] == sorted(
        (risk for _, risk in reported), reverse=True
    )
    assert pages[0]["total"] == 5
    # The risk is summed over every line, not the page's.
    assert {Decimal(p["subsidy_at_risk"]) for p in pages} == {Decimal(42500)}


def test_unlicensed_teaching_parties_are_paged(client: TestClient, municipality: str) -> None:
    net = network(client, municipality)
    school = net.organization("A school", kind="general_education", licensed=False)
    centres = [net.organization(f"Centre {n}", licensed=False) for n in (1, 2)]
    licences = {oid: net.licence(oid) for oid in (school, *centres)}
    for n in (1, 2):
        pid = net.program(school, f"Engineering {n}", partners=centres)
        net.agreement(f"NA-{n}", [(school, "base"), *((c, "participant") for c in centres)], [pid])
    for oid, lid in licences.items():
        net.post(
            f"/organizations/{oid}/licences/{lid}/suspend",
            {"effective_on": "2026-11-01", "reason": "Inspection"},
        )
    path = "/organizations/unlicensed-teaching-parties"
    params = {"municipality": municipality, "on": "2026-11-15", "min_position": net.position}

    items, pages = walk(client, path, 4, **params)
    assert items == whole(client, path, **params)
    assert pages[0]["total"] == 6
    assert len({(i["agreement_id"], i["organization_id"], i["role"]) for i in items}) == 6
    assert [i["number"] for i in items] == ["NA-1"] * 3 + ["NA-2"] * 3
    assert {p["on"] for p in pages} == {"2026-11-15"}


def test_expiring_agreements_and_contributions_are_paged(
    client: TestClient, municipality: str, settings: Settings
) -> None:
    net = network(client, municipality)
    today = settings.today()
    school = net.organization("School", kind="general_education", issued_on=today - timedelta(400))
    centre = net.organization("Centre", issued_on=today - timedelta(400))

    def term(days_left: int) -> tuple[date, date]:
        return today - timedelta(100), today + timedelta(days_left)

    def contribution(kind: str, t: tuple[date, date]) -> dict[str, Any]:
        return {
            "organization_id": centre,
            "resource_type": kind,
            "description": f"{kind} of the centre",
            "volume": "1",
            "unit": "units",
            "period_from": t[0].isoformat(),
            "period_to": t[1].isoformat(),
        }

    made = []
    for number, days_left, kinds in (
        ("NA-c", 20, ["personnel"]),
        ("NA-a", 10, ["infrastructure"]),
        ("NA-b", 20, ["intellectual", "material_technical"]),
    ):
        pid = net.program(school, f"Program {number}", partners=[centre])
        made.append(
            net.agreement(
                number,
                [(school, "base"), (centre, "participant")],
                [pid],
                term=term(days_left),
                contributions=[contribution(k, term(days_left)) for k in kinds],
            )
        )
    params = {"municipality": municipality, "min_position": net.position}

    path = "/agreements/expiring"
    items, pages = walk(client, path, 2, within_days=30, **params)
    assert items == whole(client, path, within_days=30, **params)
    assert pages[0]["total"] == 3
    assert [(a["number"], a["days_left"]) for a in items] == [
        ("NA-a", 10),
        ("NA-b", 20),
        ("NA-c", 20),
    ]
    assert sorted(a["agreement_id"] for a in items) == sorted(made)
    assert {(p["on"], p["within_days"]) for p in pages} == {(today.isoformat(), 30)}

    path = "/agreements/contributions"
    items, pages = walk(client, path, 1, **params)
    assert items == whole(client, path, **params)
    assert pages[0]["total"] == 4
    assert [(t["resource_type"], t["contributions"], t["volumes"]) for t in items] == [
        (kind, 1, [{"unit": "units", "contributions": 1, "volume": "1"}])
        for kind in ("infrastructure", "intellectual", "material_technical", "personnel")
    ]


def test_principals_are_paged_in_the_order_registered(client: TestClient) -> None:
    names = [f"Paged {uuid.uuid4().hex[:8]}" for _ in range(3)]
    registered = [
        expect_ok(
            client.post(
                f"{API}/admin/principals", json={"name": n, "role": "auditor"}, headers=ADMIN
            ),
            201,
        )["principal_id"]
        for n in names
    ]
    items, pages = walk(client, "/admin/principals", 7, headers=ADMIN)
    ids = [p["principal_id"] for p in items]
    assert len(ids) == len(set(ids)) == pages[0]["total"]
    assert ids[-3:] == registered
    assert [p["name"] for p in items[-3:]] == names
    # The session's database may hold more principals than one page of the largest size.
    assert items == walk(client, "/admin/principals", 200, headers=ADMIN)[0]


# -- histories ---------------------------------------------------------------------------


def test_a_history_is_read_page_by_page_after_a_version(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    for n in range(5):
        plan_deliverable(client, pid, title=f"Deliverable {n}")
    url = f"{API}/projects/{pid}/history"

    full = expect_ok(client.get(url))
    assert full["next_after_version"] is None
    assert [e["version"] for e in full["events"]] == [1, 2, 3, 4, 5, 6]
    for limit in (1, 2, 4, 5, 6, 7):
        assert walk_history(client, url, limit) == full["events"], limit

    # A page that ends on the last event is the last page.
    last = expect_ok(client.get(url, params={"after_version": 4, "limit": 2}))
    assert ([e["version"] for e in last["events"]], last["next_after_version"]) == ([5, 6], None)
    # After the last version: nothing, and no next page.
    past = expect_ok(client.get(url, params={"after_version": 6}))
    assert (past["aggregate_id"], past["events"], past["next_after_version"]) == (pid, [], None)
    for huge in (2**31, 2**63, 10**30):
        assert expect_ok(client.get(url, params={"after_version": huge}))["events"] == []
    # An unknown id is still 404, whatever the cursor.
    assert_problem(client.get(f"{API}/projects/{uuid.uuid4()}/history", params={"limit": 1}), 404)


def test_every_history_is_paged(client: TestClient, municipality: str) -> None:
    net = network(client, municipality)
    school = net.organization("School", kind="general_education")
    centre = net.organization("Centre")
    program = net.program(school, "Engineering", partners=[centre])
    agreement = net.agreement("NA-h", [(school, "base"), (centre, "participant")], [program])
    robots = net.program(centre, "Robots")
    child = f"secret-{uuid.uuid4().hex[:8]}"
    net.enrol(robots, child, 2015)
    group = establish(client, municipality)
    group.appoint("A", "education")
    assignment = approved(client, municipality)
    project = create_project(client, municipality)["id"]
    plan_deliverable(client, project)

    urls = [
        f"{API}/organizations/{school}/history",
        f"{API}/programs/{program}/history",
        f"{API}/programs/{robots}/history",
        f"{API}/agreements/{agreement}/history",
        f"{API}/working-groups/{group.id}/history",
        f"{API}/assignments/{assignment}/history",
        f"{API}/projects/{project}/history",
    ]
    for url in urls:
        full = expect_ok(client.get(url))
        assert len(full["events"]) >= 2, url
        assert full["next_after_version"] is None
        first = expect_ok(client.get(url, params={"limit": 1}))
        assert (len(first["events"]), first["next_after_version"]) == (1, 1), url
        assert walk_history(client, url, 1) == full["events"], url
    # Paged or not, a child's pseudonymous id stays out of a program's history.
    for after in range(4):
        page = client.get(urls[2], params={"after_version": after, "limit": 1})
        assert page.status_code == 200
        assert child not in page.text


# -- bounds ------------------------------------------------------------------------------

LISTS = [
    "/assignments/outside-tolerance",
    "/agreements/expiring",
    "/agreements/contributions",
    "/organizations/unlicensed-teaching-parties",
    "/admin/principals",
]
HISTORIES = [
    "/projects/{}/history",
    "/working-groups/{}/history",
    "/assignments/{}/history",
    "/agreements/{}/history",
    "/organizations/{}/history",
    "/programs/{}/history",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")],
)
def test_a_list_page_over_the_maximum_is_422(
    client: TestClient, path: str, params: dict[str, int], field: str
) -> None:
    headers = ADMIN if path.startswith("/admin/") else None  # else the default reader
    problem = assert_problem(client.get(f"{API}{path}", params=params, headers=headers), 422)
    assert problem["type"] == "/problems/invalid-input"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert client.get(f"{API}{path}", params={"limit": 200}, headers=headers).status_code == 200


@pytest.mark.parametrize("path", HISTORIES)
@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 1001}, "limit"), ({"limit": 0}, "limit"), ({"after_version": -1}, "after_version")],
)
def test_a_history_page_over_the_maximum_is_422(
    client: TestClient, path: str, params: dict[str, int], field: str
) -> None:
    url = f"{API}{path.format(uuid.uuid4())}"
    problem = assert_problem(client.get(url, params=params), 422)
    assert problem["type"] == "/problems/invalid-input"
    assert [e["field"] for e in problem["errors"]] == [field]
    # Within the bounds, an unknown id is 404.
    assert_problem(client.get(url, params={"limit": 1000}), 404)
