"""Past states over HTTP: ?as_of= and ?version= on every single-aggregate read, and progress.

The GETs here send no credential: the client fixture then reads as an unlimited auditor,
who reads every aggregate's past states.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from interagency.services import Services
from tests.e2e.conftest import (
    API,
    approve_through,
    assert_problem,
    command,
    create_project,
    expect_ok,
    gate_body,
    plan_deliverable,
)
from tests.integration.network_helpers import (
    META,
    draft_program,
    enrol,
    published_program,
    register,
    terms,
)

YEAR = 2027
SERVICE = "804200О.99.0.ББ52АЖ48000"


def at(moment: datetime) -> dict[str, str]:
    return {"as_of": moment.isoformat()}


def test_a_project_as_of_each_moment_and_at_each_version_is_what_was_read_then(
    client: TestClient, municipality: str
) -> None:
    recorded: list[tuple[datetime, dict[str, Any]]] = []

    def record(project_id: str) -> None:
        body = expect_ok(client.get(f"{API}/projects/{project_id}"))
        recorded.append((datetime.now(UTC), body))

    pid = create_project(client, municipality)["id"]
    record(pid)
    did = plan_deliverable(client, pid)["deliverable_id"]
    record(pid)
    approve_through(client, pid, did)
    record(pid)
    command(client, pid, "gate/pass", gate_body(1))
    record(pid)

    for moment, body in recorded:
        past = client.get(f"{API}/projects/{pid}", params=at(moment))
        assert expect_ok(past) == body
        assert past.headers["ETag"] == f'"{body["version"]}"'
        assert past.headers["X-Aggregate-Version"] == str(body["version"])
        assert past.headers["X-Aggregate-Modified-At"].startswith(body["modified_at"][:19])
        assert datetime.fromisoformat(past.headers["X-As-Of"]) == moment
        by_version = client.get(f"{API}/projects/{pid}", params={"version": body["version"]})
        assert expect_ok(by_version) == body
        assert "X-As-Of" not in by_version.headers


def test_as_of_with_another_utc_offset_names_the_same_moment(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    moment = datetime.now(UTC)
    plan_deliverable(client, pid)
    in_moscow = moment.astimezone(timezone(timedelta(hours=3)))
    body = expect_ok(client.get(f"{API}/projects/{pid}", params=at(in_moscow)))
    assert body["version"] == 1
    # "+" in a query string must be percent-encoded; httpx does it, curl users must too.
    assert "+03:00" in in_moscow.isoformat()


def test_a_moment_before_creation_is_404_and_says_the_project_did_not_exist_yet(
    client: TestClient, municipality: str
) -> None:
    before = datetime.now(UTC)
    pid = create_project(client, municipality)["id"]
    problem = assert_problem(client.get(f"{API}/projects/{pid}", params=at(before)), 404)
    assert problem["reason"] == "not_yet_created"
    assert "did not exist yet" in problem["detail"]
    assert datetime.fromisoformat(problem["created_at"]) > before


def test_a_version_beyond_the_last_is_404_and_names_the_last(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    problem = assert_problem(client.get(f"{API}/projects/{pid}", params={"version": 2}), 404)
    assert problem["reason"] == "beyond_last_version"
    assert problem["last_version"] == 1
    assert "last version is 1" in problem["detail"]


def test_an_unknown_id_is_404_at_any_moment(client: TestClient) -> None:
    for params in ({"version": 1}, at(datetime.now(UTC)), {}):
        problem = assert_problem(client.get(f"{API}/projects/{uuid4()}", params=params), 404)
        assert "no project" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2027-01-01T10:00:00+03:00", "version": "1"}, "as_of"),
        ({"as_of": "2027-01-01T10:00:00"}, "as_of"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"version": "0"}, "version"),
        ({"version": "-3"}, "version"),
        ({"version": "one"}, "version"),
    ],
)
def test_both_parameters_a_naive_moment_or_a_bad_version_are_422(
    client: TestClient, municipality: str, params: dict[str, str], field: str
) -> None:
    pid = create_project(client, municipality)["id"]
    for path in (f"projects/{pid}", f"projects/{pid}/progress"):
        problem = assert_problem(client.get(f"{API}/{path}", params=params), 422)
        assert field in problem["detail"] or field in str(problem.get("errors", ""))


def test_stage_progress_as_of_a_moment_is_the_progress_then(
    client: TestClient, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    did = plan_deliverable(client, pid)["deliverable_id"]
    approve_through(client, pid, did)
    before_gate = datetime.now(UTC)
    gate = command(client, pid, "gate/pass", gate_body(1))

    then = client.get(f"{API}/projects/{pid}/progress", params=at(before_gate))
    past = expect_ok(then)
    assert then.headers["X-Aggregate-Version"] == "4"
    assert past["active_stage"] == "social_ties_program"
    first, second = past["stages"][:2]
    assert (first["status"], first["percent_complete"], first["completed_at"]) == (
        "active",
        100.0,
        None,
    )
    assert second["status"] == "not_started"
    # The duration of a stage still active then runs to that moment.
    entered = datetime.fromisoformat(first["entered_at"])
    assert first["duration_seconds"] == pytest.approx((before_gate - entered).total_seconds())
    assert past["position"] < gate["position"]

    # Now, from the events, equals the projection's answer (but for running durations).
    now = expect_ok(client.get(f"{API}/projects/{pid}/progress", params=at(datetime.now(UTC))))
    projected = expect_ok(
        client.get(f"{API}/projects/{pid}/progress", params={"min_position": gate["position"]})
    )
    assert now["position"] == gate["position"]
    for rebuilt, row in zip(now["stages"], projected["stages"], strict=True):
        rebuilt.pop("duration_seconds")
        row.pop("duration_seconds")
        assert rebuilt == row
    assert (now["status"], now["active_stage"]) == (projected["status"], projected["active_stage"])


def test_progress_before_the_project_existed_is_404(client: TestClient, municipality: str) -> None:
    before = datetime.now(UTC)
    pid = create_project(client, municipality)["id"]
    problem = assert_problem(client.get(f"{API}/projects/{pid}/progress", params=at(before)), 404)
    assert problem["reason"] == "not_yet_created"


# -- the other aggregates --------------------------------------------------------------


def other_aggregates(services: Services) -> dict[str, tuple[UUID, datetime, datetime]]:
    """One of each other kind, changed once after creation: path -> (id, created, changed).

    ``created`` is a moment after creation (version 1), ``changed`` one after version 2.
    """
    app = services.app
    town = f"Time travel e2e {uuid4().hex[:8]}"
    out: dict[str, tuple[UUID, datetime, datetime]] = {}

    org = register(app, town, "Centre", licensed=False)
    created = datetime.now(UTC)
    app.rename_organization(META, org, name="Centre of arts")
    out["organizations"] = (org, created, datetime.now(UTC))

    gid = app.establish_group(
        META, kind="interagency", name="Board", basis_act="Order 7", municipality=town
    ).aggregate_id
    created = datetime.now(UTC)
    app.appoint_member(
        META,
        gid,
        member_id=uuid4(),
        person="Chair person",
        organization="Office",
        agency="education",
        position="chair",
        voting=True,
        appointed_on=datetime(2027, 1, 15, tzinfo=UTC).date(),
    )
    out["working-groups"] = (gid, created, datetime.now(UTC))

    aid = app.draft_assignment(
        META,
        organization_id=org,
        institution="Centre of arts",
        agency="education",
        founder="Education office",
        municipality=town,
        fiscal_year=YEAR,
        lines=[
            {
                "registry_number": SERVICE,
                "service_name": "Programmes",
                "unit": "person_hours",
                "planned": {str(YEAR): "1000"},
                "allowed_deviation_pct": "5",
                "normative_cost": "150.00",
            }
        ],
    ).aggregate_id
    created = datetime.now(UTC)
    app.approve_assignment(META, aid, basis_document="Order 1")
    out["assignments"] = (aid, created, datetime.now(UTC))

    provider = register(app, town, "School of arts")
    prog = draft_program(app, provider)
    created = datetime.now(UTC)
    app.approve_program(META, prog, party_id=provider)
    out["programs"] = (prog, created, datetime.now(UTC))

    partner = register(app, town, "Library", kind="culture", agency="culture", licensed=False)
    network = published_program(app, provider, title="Reading")
    agreement = app.draft_agreement(
        META,
        agreement_id=uuid4(),
        number="NA-e2e",
        title="Reading clubs",
        municipality=town,
        terms=terms([(provider, "base"), (partner, "resource")], [network]),
    ).aggregate_id
    created = datetime.now(UTC)
    app.sign_agreement(
        META,
        agreement,
        party_id=provider,
        signatory="Director",
        signed_on=datetime(2026, 8, 1, tzinfo=UTC).date(),
    )
    out["agreements"] = (agreement, created, datetime.now(UTC))
    return out


@pytest.fixture(scope="module")
def others(services: Services) -> dict[str, tuple[UUID, datetime, datetime]]:
    return other_aggregates(services)


@pytest.mark.parametrize(
    "path", ["organizations", "working-groups", "assignments", "programs", "agreements"]
)
def test_every_single_read_answers_past_states_the_same_way(
    client: TestClient, others: dict[str, tuple[UUID, datetime, datetime]], path: str
) -> None:
    aggregate_id, created, changed = others[path]
    url = f"{API}/{path}/{aggregate_id}"
    now = expect_ok(client.get(url))
    assert now["version"] >= 2
    first = client.get(url, params={"version": 1})
    assert expect_ok(first)["version"] == 1
    assert first.headers["X-Aggregate-Version"] == "1"
    assert expect_ok(client.get(url, params=at(created))) == expect_ok(first)
    # The change may record more than one event (a program's last approval records two).
    then = expect_ok(client.get(url, params=at(changed)))
    assert 2 <= then["version"] <= now["version"]
    assert then != expect_ok(first)
    assert expect_ok(client.get(url, params={"version": then["version"]})) == then
    before = created - timedelta(days=1)
    assert assert_problem(client.get(url, params=at(before)), 404)["reason"] == "not_yet_created"
    beyond = {"version": now["version"] + 1}
    assert assert_problem(client.get(url, params=beyond), 404)["reason"] == "beyond_last_version"
    assert_problem(client.get(url, params={**at(changed), "version": 1}), 422)
    assert_problem(client.get(url, params={"as_of": "2027-01-01T00:00:00"}), 422)


def test_an_organisation_as_of_a_moment_is_licensed_as_on_that_date_unless_on_is_given(
    client: TestClient, services: Services
) -> None:
    oid = register(services.app, f"Town {uuid4().hex[:6]}", "Centre")
    url = f"{API}/organizations/{oid}"
    now = datetime.now(UTC)
    # The licence was issued on 2020-01-15: before that date, not licensed; after, licensed.
    assert expect_ok(client.get(url, params=at(now)))["licensed_for_additional_education"]
    old = expect_ok(client.get(url, params={**at(now), "on": "2019-12-31"}))
    assert old["licensed_for_additional_education"] is False


def test_a_program_as_of_a_moment_counts_its_enrolments_then_and_shows_no_child(
    client: TestClient, services: Services
) -> None:
    app = services.app
    provider = register(app, f"Town {uuid4().hex[:6]}", "Sports school")
    prog = published_program(app, provider, title="Chess", capacity=5)
    enrol(app, prog, "child-e2e-1", 2016)
    one = datetime.now(UTC)
    enrol(app, prog, "child-e2e-2", 2017)
    body = expect_ok(client.get(f"{API}/programs/{prog}", params=at(one)))
    assert body["enrolments"] == {"active": 1, "ended": 0, "total": 1}
    assert body["places_left"] == 4
    assert "child-e2e" not in str(body)
