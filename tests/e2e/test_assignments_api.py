"""Municipal assignments and redistributions over HTTP, on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import API, assert_problem, expect_ok, official_headers
from tests.e2e.organization_helpers import register_organization

SERVICE = "804200О.99.0.ББ52АЖ48000"
YEAR = 2027
FOUNDER = official_headers("education", actor_id="uo-ivanova")
# An assignment is written by an official of its own agency: culture's founder for culture.
FOUNDERS = {"education": FOUNDER, "culture": official_headers("culture", actor_id="ok-petrov")}


def assignment_body(municipality: str, organization_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organization_id": organization_id,
        "institution": "МБУ ДО «Центр детского творчества»",
        "agency": "education",
        "founder": "Управление образования",
        "municipality": municipality,
        "fiscal_year": YEAR,
        "lines": [
            {
                "registry_number": SERVICE,
                "service_name": "Реализация дополнительных общеразвивающих программ",
                "direction": "technical",
                "unit": "person_hours",
                "planned": {str(YEAR): "1000", str(YEAR + 1): "1000"},
                "allowed_deviation_pct": "5",
                "normative_cost": "100.00",
            }
        ],
    }
    body.update(overrides)
    return body


def approved(client: TestClient, municipality: str, **overrides: Any) -> str:
    founder = FOUNDERS[overrides.get("agency", "education")]
    made = expect_ok(
        client.post(
            f"{API}/assignments",
            json=assignment_body(municipality, register_organization(client), **overrides),
            headers=founder,
        ),
        201,
    )
    expect_ok(
        client.post(
            f"{API}/assignments/{made['id']}/approve",
            json={"basis_document": "Приказ № 12"},
            headers=founder,
        )
    )
    return str(made["id"])


def move(a: str, b: str, delta: str, **extra: Any) -> dict[str, Any]:
    return {
        "registry_number": SERVICE,
        "unit": "person_hours",
        "year": YEAR,
        "legs": [{"assignment_id": a, "delta": f"-{delta}"}, {"assignment_id": b, "delta": delta}],
        **extra,
    }


def test_an_assignment_is_drafted_approved_and_read_with_its_etag(
    client: TestClient, municipality: str
) -> None:
    aid = approved(client, municipality)
    r = client.get(f"{API}/assignments/{aid}")
    body = expect_ok(r)
    assert r.headers["ETag"] == '"2"'
    assert body["status"] == "approved"
    (line,) = body["lines"]
    assert Decimal(line["subsidy"][str(YEAR)]) == Decimal("100000.00")
    history = expect_ok(client.get(f"{API}/assignments/{aid}/history"))
    approved_event = history["events"][1]
    assert approved_event["type"] == "AssignmentApproved"
    assert approved_event["basis_document"] == "Приказ № 12"
    assert approved_event["actor"]["id"] == FOUNDER.actor_id


def test_a_deviation_beyond_the_allowed_one_without_a_reason_is_refused(
    client: TestClient, services: Services, municipality: str
) -> None:
    aid = approved(client, municipality)
    head = services.app.head_position()
    refused = client.post(
        f"{API}/assignments/{aid}/reports",
        json={"period": "h1", "actual": {"1": "400"}},
        headers=FOUNDER,
    )
    problem = assert_problem(refused, 409)
    assert problem["rule"] == "deviation_needs_reason"
    assert "-20.00%" in problem["detail"]
    assert services.app.head_position() == head
    report = expect_ok(
        client.post(
            f"{API}/assignments/{aid}/reports",
            json={"period": "h1", "actual": {"1": "400"}, "reasons": {"1": "Ремонт здания"}},
            headers=FOUNDER,
        ),
        201,
    )
    expect_ok(
        client.post(
            f"{API}/assignments/{aid}/reports/{report['created_id']}/accept", headers=FOUNDER
        )
    )
    dashboard = expect_ok(
        client.get(
            f"{API}/assignments/outside-tolerance",
            params={"municipality": municipality, "min_position": report["position"]},
        )
    )
    (item,) = dashboard["items"]
    assert item["assignment_id"] == aid
    # (500 due * 0.95 tolerated - 400 actual) * 100 per person-hour
    assert Decimal(item["subsidy_at_risk"]) == Decimal("7500")
    assert Decimal(dashboard["subsidy_at_risk"]) == Decimal("7500")


def test_refused_redistributions_answer_409_and_write_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    a = approved(client, municipality)
    b = approved(client, municipality)
    museum = approved(client, municipality, founder="Отдел культуры", agency="culture")
    unbalanced = move(a, b, "100")
    unbalanced["legs"][1]["delta"] = "90"
    cases = [
        (move(a, b, "1500"), "volume_never_negative"),
        (unbalanced, "volume_conserved"),
        (move(a, museum, "100"), "cross_founder_needs_budget_basis"),
    ]
    for body, rule in cases:
        head = services.app.head_position()
        problem = assert_problem(
            client.post(f"{API}/redistributions", json=body, headers=FOUNDER), 409
        )
        assert problem["rule"] == rule, problem
        assert services.app.head_position() == head
    for aid in (a, b, museum):
        (line,) = expect_ok(client.get(f"{API}/assignments/{aid}"))["lines"]
        assert Decimal(line["planned"][str(YEAR)]) == Decimal(1000)


def test_a_redistribution_moves_volume_and_shows_in_the_register_and_the_log(
    client: TestClient, municipality: str
) -> None:
    a = approved(client, municipality)
    museum = approved(
        client,
        municipality,
        founder="Отдел культуры",
        agency="culture",
        institution="МБУК «Районный дом культуры»",
    )
    body = move(a, museum, "250", budget_basis="Решение № 45", reason="Недовыполнение")
    posted = client.post(f"{API}/redistributions", json=body, headers=FOUNDER)
    moved = expect_ok(posted, 201)
    moved_location = posted.headers["Location"]
    register = expect_ok(
        client.get(
            f"{API}/assignments",
            params={"municipality": municipality, "min_position": moved["position"]},
        )
    )
    planned = {r["assignment_id"]: Decimal(r["planned"]) for r in register["items"]}
    assert planned == {a: Decimal(750), museum: Decimal(1250)}
    assert all(Decimal(r["planned_initial"]) == Decimal(1000) for r in register["items"])
    log = expect_ok(client.get(f"{API}/redistributions", params={"limit": 200}))
    entry = next(r for r in log["items"] if r["redistribution_id"] == moved["id"])
    # Location names the redistribution itself
    one = client.get(moved_location, params={"min_position": moved["position"]})
    assert expect_ok(one) == entry
    assert entry["cross_founder"] is True
    assert entry["budget_basis"] == "Решение № 45"
    assert Decimal(entry["volume_moved"]) == Decimal(250)
    assert sorted(leg["subsidy_delta"] for leg in entry["legs"]) == ["-25000.00", "25000.00"]


def test_bad_input_is_422_and_unknown_ids_404(client: TestClient, municipality: str) -> None:
    body = assignment_body(municipality, register_organization(client))
    body["lines"][0]["unit"] = "hours"
    problem = assert_problem(client.post(f"{API}/assignments", json=body, headers=FOUNDER), 422)
    assert any("unit" in e["field"] for e in problem["errors"])
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(client.get(f"{API}/assignments/{unknown}"), 404)
    assert_problem(
        client.post(
            f"{API}/assignments/{unknown}/approve", json={"basis_document": "x"}, headers=FOUNDER
        ),
        404,
    )
