"""Every refusal is RFC 9457 problem+json, and a refused request writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interagency.idempotency import IdempotencyRecord
from interagency.services import Services
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    approve_through,
    assert_problem,
    command,
    create_project,
    deliverable_body,
    gate_body,
    history,
    official_headers,
    plan_deliverable,
    project_body,
    role_headers,
)

UNKNOWN = "7d0d3c39-5a4f-4d43-9c55-2a0e2b8e7f10"


@contextmanager
def nothing_written(services: Services) -> Iterator[None]:
    """The event log's head does not move while the block runs."""
    before = services.app.head_position()
    yield
    assert services.app.head_position() == before, "a refused request wrote an event"


@pytest.fixture(autouse=True)
def _tokens_minted_up_front(client: TestClient) -> None:
    """Mints the tokens these tests send before any ``nothing_written`` block counts.

    A principal and its token are registered (written to the log) the first time a test
    principal sends a request; minted here, the refused requests below reuse them.
    """
    assert official_headers().actor_id  # the default official of the test's municipality
    client.get("/health")  # the client's default reader (an auditor)


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


def commands_on(project_id: str) -> list[tuple[str, dict[str, Any] | None]]:
    """Every POST command on a project, each with a body that is valid on its own."""
    d = f"deliverables/{uuid.uuid4()}"
    reason = {"reason": "Because the working group said so"}
    return [
        ("deliverables", deliverable_body()),
        (f"{d}/submit", {"document_ref": "doc-1"}),
        (f"{d}/approve", {"reason": "ok"}),
        (f"{d}/reject", reason),
        ("gate/pass", gate_body()),
        ("gate/reject", gate_body()),
        ("suspend", reason),
        ("resume", reason),
        ("cancel", reason),
    ]


# -- 404 -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/progress", "/history"])
def test_reading_an_unknown_project_answers_404(
    client: TestClient, services: Services, path: str
) -> None:
    with nothing_written(services):
        response = client.get(f"{API}/projects/{UNKNOWN}{path}", headers={"X-Request-ID": "r-404"})
    body = assert_problem(response, 404)
    assert body["type"] == "/problems/not-found"
    assert UNKNOWN in body["detail"]
    assert body["request_id"] == "r-404"


def test_every_command_on_an_unknown_project_answers_404_and_writes_nothing(
    client: TestClient, services: Services
) -> None:
    for path, body in commands_on(UNKNOWN):
        with nothing_written(services):
            response = client.post(
                f"{API}/projects/{UNKNOWN}/{path}", json=body, headers=official_headers()
            )
        problem = assert_problem(response, 404)
        assert problem["type"] == "/problems/not-found", path
        assert problem["id"] == UNKNOWN


def test_an_idempotency_record_id_is_not_a_project(
    client: TestClient, services: Services, municipality: str
) -> None:
    key = f"key-{uuid.uuid4().hex}"
    headers = official_headers(Idempotency_Key=key)
    response = client.post(f"{API}/projects", json=project_body(municipality), headers=headers)
    assert response.status_code == 201, response.text
    record_id = IdempotencyRecord.id_for(key)
    with nothing_written(services):
        for path in ("", "/history"):
            assert_problem(client.get(f"{API}/projects/{record_id}{path}"), 404)
        response = client.post(
            f"{API}/projects/{record_id}/suspend", json={"reason": "x"}, headers=official_headers()
        )
        assert_problem(response, 404)


# -- 422 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/projects/not-a-uuid", "project_id"),
        ("GET", "/projects/12345/progress", "project_id"),
        ("GET", "/projects/zzz/history", "project_id"),
        ("POST", "/projects/not-a-uuid/gate/pass", "project_id"),
        ("POST", f"/projects/{UNKNOWN}/deliverables/not-a-uuid/submit", "deliverable_id"),
    ],
)
def test_a_malformed_uuid_in_the_path_answers_422_naming_it(
    client: TestClient, services: Services, method: str, path: str, field: str
) -> None:
    with nothing_written(services):
        response = client.request(
            method,
            f"{API}{path}",
            json=gate_body() if path.endswith("pass") else None,
            headers=official_headers(),
        )
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/invalid-input"
    assert field in fields(body)
    assert next(e for e in body["errors"] if e["field"] == field)["location"] == "path"
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("change", "invalid"),
    [
        pytest.param({"title": None, "goal": None}, {"title", "goal"}, id="missing"),
        pytest.param({"lead_agency": "ministry_of_magic"}, {"lead_agency"}, id="unknown-agency"),
        pytest.param({"agencies": ["education", "wizardry"]}, {"agencies.1"}, id="unknown-in-list"),
        pytest.param({"agencies": ["education"]}, {"agencies"}, id="too-few-agencies"),
        pytest.param(
            {"organizations": [{"name": "X", "kind": "castle"}]},
            {"organizations.0.kind"},
            id="unknown-nested-code",
        ),
        pytest.param({"priority": "high"}, {"priority"}, id="extra-field"),
        pytest.param(
            {
                "targets": [
                    {"dimension": "coverage", "name": "n", "target_value": 1, "unit": "%", "x": 1}
                ]
            },
            {"targets.0.x"},
            id="extra-nested-field",
        ),
        pytest.param({"title": "t" * 301}, {"title"}, id="too-long-title"),
        pytest.param({"municipality": "m" * 201}, {"municipality"}, id="too-long-municipality"),
        pytest.param({"title": "   "}, {"title"}, id="blank-title"),
        pytest.param({"agencies": "education"}, {"agencies"}, id="wrong-type"),
    ],
)
def test_an_invalid_project_answers_422_naming_the_invalid_fields(
    client: TestClient,
    services: Services,
    municipality: str,
    change: dict[str, Any],
    invalid: set[str],
) -> None:
    body = {**project_body(municipality), **change}
    for key in [k for k, v in change.items() if v is None]:
        del body[key]
    with nothing_written(services):
        response = client.post(f"{API}/projects", json=body, headers=official_headers())
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-input"
    assert fields(problem) == invalid
    assert all(e["location"] == "body" for e in problem["errors"])
    assert all(e["message"] for e in problem["errors"])


def test_invalid_command_bodies_answer_422_and_leave_the_project_as_it_was(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    d = plan_deliverable(client, pid)["deliverable_id"]
    before = len(history(client, pid))
    cases: list[tuple[str, Any, set[str]]] = [
        ("deliverables", deliverable_body(stage="stage_five"), {"stage"}),
        ("deliverables", deliverable_body(mechanism="telepathy"), {"mechanism"}),
        ("deliverables", deliverable_body(due_date="next spring"), {"due_date"}),
        ("deliverables", deliverable_body(title="d" * 301), {"title"}),
        ("deliverables", {**deliverable_body(), "owner": "me"}, {"owner"}),
        ("deliverables", {"title": "Only a title"}, {"stage", "mechanism"}),
        (f"deliverables/{d}/submit", {"document_ref": "r" * 301}, {"document_ref"}),
        (f"deliverables/{d}/reject", {}, {"reason"}),
        (f"deliverables/{d}/reject", {"reason": ""}, {"reason"}),
        ("gate/pass", {"reason": "r" * 4001, "decision_ref": "x"}, {"reason"}),
        ("gate/pass", None, {"body"}),
        ("gate/reject", {"reason": "ok", "verdict": "no"}, {"verdict"}),
        ("suspend", {"reason": None}, {"reason"}),
    ]
    for path, body, invalid in cases:
        with nothing_written(services):
            response = client.post(
                f"{API}/projects/{pid}/{path}", json=body, headers=official_headers()
            )
        problem = assert_problem(response, 422)
        assert fields(problem) == invalid, (path, body, problem["errors"])
    assert len(history(client, pid)) == before


def test_a_body_that_is_not_json_answers_422(client: TestClient, services: Services) -> None:
    with nothing_written(services):
        response = client.post(
            f"{API}/projects",
            content=b"{not json",
            headers={**official_headers(), "Content-Type": "application/json"},
        )
    problem = assert_problem(response, 422)
    assert problem["errors"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"active_stage": "stage_five"}, "active_stage"),
        ({"agency": "wizardry"}, "agency"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"min_position": -5}, "min_position"),
        ({"limit": "many"}, "limit"),
        ({"municipality": "m" * 201}, "municipality"),
    ],
)
def test_invalid_list_parameters_answer_422_naming_the_parameter(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.get(f"{API}/projects", params=params), 422)
    assert fields(problem) == {field}
    assert problem["errors"][0]["location"] == "query"


def test_identity_headers_neither_choose_the_actor_nor_lift_a_refusal(
    client: TestClient, services: Services, municipality: str
) -> None:
    """The actor comes from the bearer token alone: X-Actor-* headers are ignored."""
    forged = {"X-Actor-Id": "a" * 201, "X-Actor-Role": "emperor", "X-Actor-Agency": "wizardry"}
    official = official_headers()
    created = client.post(
        f"{API}/projects", json=project_body(municipality), headers={**official, **forged}
    )
    assert created.status_code == 201, created.text
    (initiated,) = history(client, created.json()["id"])
    assert initiated["actor"] == {
        "id": official.actor_id,
        "role": "official",
        "agency": "education",
    }

    # An auditor claiming to be an official in the old headers stays a read-only auditor.
    auditor = role_headers("auditor")
    claimed = {
        "X-Actor-Id": "uo-ivanova",
        "X-Actor-Role": "official",
        "X-Actor-Agency": "education",
    }
    assert auditor.actor_id
    with nothing_written(services):
        response = client.post(
            f"{API}/projects", json=project_body(municipality), headers={**auditor, **claimed}
        )
    assert assert_problem(response, 403)["rule"] == "read_only_role"


def test_a_blank_strategic_priority_is_refused_by_the_domain_with_422(
    client: TestClient, services: Services, municipality: str
) -> None:
    with nothing_written(services):
        response = client.post(
            f"{API}/projects",
            json=project_body(municipality, strategic_priorities=["coverage", "   "]),
            headers=official_headers(),
        )
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-input"
    assert problem["field"] == "strategic_priorities"


def test_a_malformed_idempotency_key_answers_422(
    client: TestClient, services: Services, municipality: str
) -> None:
    with nothing_written(services):
        response = client.post(
            f"{API}/projects",
            json=project_body(municipality),
            headers=official_headers(Idempotency_Key="has spaces and / slashes"),
        )
    problem = assert_problem(response, 422)
    assert fields(problem) == {"Idempotency-Key"}


# -- 409 -----------------------------------------------------------------------------


def test_passing_a_gate_with_an_unapproved_mandatory_deliverable_answers_409_listing_it(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    done = plan_deliverable(client, pid, title="Approved act")["deliverable_id"]
    approve_through(client, pid, done)
    open_ = plan_deliverable(client, pid, title="Draft program")["deliverable_id"]
    plan_deliverable(client, pid, title="Nice to have", mandatory=False)
    submitted = plan_deliverable(client, pid, title="Under review")["deliverable_id"]
    command(client, pid, f"deliverables/{submitted}/submit")
    before = len(history(client, pid))

    with nothing_written(services):
        response = client.post(
            f"{API}/projects/{pid}/gate/pass", json=gate_body(), headers=official_headers()
        )
    problem = assert_problem(response, 409)
    assert problem["type"] == "/problems/rule-violated"
    assert problem["rule"] == "mandatory_deliverables_approved"
    assert problem["unapproved"] == [
        {"id": open_, "title": "Draft program", "state": "planned"},
        {"id": submitted, "title": "Under review", "state": "submitted"},
    ]
    assert "Draft program" in problem["detail"]
    assert len(history(client, pid)) == before
    assert client.get(f"{API}/projects/{pid}").json()["active_stage"] == "social_ties_program"


def test_broken_rules_answer_409_naming_the_rule_and_write_nothing(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    d = plan_deliverable(client, pid)["deliverable_id"]
    later = plan_deliverable(client, pid, "regulatory_base")["deliverable_id"]
    cases: list[tuple[str, dict[str, Any] | None, str]] = [
        (f"deliverables/{d}/approve", None, "deliverable_submitted_before_review"),
        (f"deliverables/{d}/reject", {"reason": "no"}, "deliverable_submitted_before_review"),
        (f"deliverables/{later}/submit", None, "deliverable_in_active_stage"),
        (f"deliverables/{uuid.uuid4()}/submit", None, "deliverable_exists"),
        ("gate/pass", {"reason": "Done, trust me"}, "gate_needs_basis"),
        ("resume", {"reason": "It is not suspended"}, "resume_only_suspended"),
    ]
    for path, body, rule in cases:
        before = len(history(client, pid))
        with nothing_written(services):
            response = client.post(
                f"{API}/projects/{pid}/{path}", json=body, headers=official_headers()
            )
        problem = assert_problem(response, 409)
        assert problem["rule"] == rule, (path, problem)
        assert len(history(client, pid)) == before


def test_a_suspended_project_refuses_work_with_409(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    d = plan_deliverable(client, pid)["deliverable_id"]
    command(client, pid, "suspend", {"reason": "Budget moved"})
    for path, body in [
        ("deliverables", deliverable_body()),
        (f"deliverables/{d}/submit", None),
        ("gate/pass", gate_body()),
        ("gate/reject", gate_body()),
        ("suspend", {"reason": "Again"}),
    ]:
        with nothing_written(services):
            response = client.post(
                f"{API}/projects/{pid}/{path}", json=body, headers=official_headers()
            )
        problem = assert_problem(response, 409)
        expected = "suspend_only_active" if path == "suspend" else "project_active"
        assert problem["rule"] == expected, path


def test_initiating_with_a_lead_agency_outside_the_project_answers_409(
    client: TestClient, services: Services, municipality: str
) -> None:
    with nothing_written(services):
        response = client.post(
            f"{API}/projects",
            json=project_body(municipality, lead_agency="health"),
            headers=official_headers(),
        )
    assert assert_problem(response, 409)["rule"] == "lead_agency_participates"
    with nothing_written(services):
        response = client.post(
            f"{API}/projects",
            json=project_body(municipality, agencies=["education", "education"]),
            headers=official_headers(),
        )
    assert assert_problem(response, 409)["rule"] == "at_least_two_agencies"


# -- 401, 403, 412 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("Bearer ", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank"),
        pytest.param("Basic dW8taXZhbm92YTpzZWNyZXQ=", id="another-scheme"),
    ],
)
def test_a_request_without_a_credential_answers_401_missing_and_writes_nothing(
    client: TestClient, services: Services, municipality: str, authorization: str | None
) -> None:
    pid = create_project(client, municipality)["id"]
    # The old identity headers are no credential.
    headers = {
        **ANONYMOUS,
        "X-Actor-Id": "uo-ivanova",
        "X-Actor-Role": "official",
        "X-Actor-Agency": "education",
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    with nothing_written(services):
        created = client.post(f"{API}/projects", json=project_body(municipality), headers=headers)
        planned = client.post(
            f"{API}/projects/{pid}/deliverables", json=deliverable_body(), headers=headers
        )
        read = client.get(f"{API}/projects/{pid}", headers=headers)
    for response in (created, planned, read):
        problem = assert_problem(response, 401)
        assert problem["type"] == "/problems/authentication-required"
        assert problem["reason"] == "missing"
        assert "Authorization: Bearer" in problem["detail"]
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="interagency"'
    # With a credential, the same read is answered.
    assert client.get(f"{API}/projects/{pid}").status_code == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("not-a-token", "malformed", id="not-a-token"),
        pytest.param("iat_" + "g" * 32 + "_" + "a" * 43, "malformed", id="non-hex-id"),
        pytest.param("iat_" + "0" * 32 + "_" + "a" * 42, "malformed", id="short-secret"),
        pytest.param("iat_" + "0" * 32 + "_" + "a" * 43 + "x" * 200, "malformed", id="too-long"),
        pytest.param("iat_" + "0" * 32 + "_" + "a" * 43, "unknown_token", id="unknown"),
    ],
)
def test_a_refused_token_answers_401_with_the_reason_and_writes_nothing(
    client: TestClient, services: Services, municipality: str, token: str, reason: str
) -> None:
    pid = create_project(client, municipality)["id"]
    headers = {"Authorization": f"Bearer {token}"}
    with nothing_written(services):
        created = client.post(f"{API}/projects", json=project_body(municipality), headers=headers)
        read = client.get(f"{API}/projects/{pid}", headers=headers)
    for response in (created, read):
        problem = assert_problem(response, 401)
        assert problem["type"] == "/problems/authentication-failed"
        assert problem["reason"] == reason
        assert token not in response.text, "a refused token is never echoed"
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="interagency", error="invalid_token"'
        )


@pytest.mark.parametrize(
    ("role", "rule"),
    [
        ("auditor", "read_only_role"),
        ("analyst", "read_only_role"),
        ("admin", "admins_manage_principals_and_projections"),
    ],
)
def test_a_write_by_a_role_that_never_writes_answers_403_and_writes_nothing(
    client: TestClient, services: Services, municipality: str, role: str, rule: str
) -> None:
    pid = create_project(client, municipality)["id"]
    headers = role_headers(role)
    assert headers.actor_id  # minted before nothing_written counts
    before = len(history(client, pid))
    for path, body in [("", None), *commands_on(pid)]:
        url = f"{API}/projects/{pid}/{path}" if path else f"{API}/projects"
        with nothing_written(services):
            response = client.post(
                url, json=body if path else project_body(municipality), headers=headers
            )
        problem = assert_problem(response, 403)
        assert problem["type"] == "/problems/permission-denied", path
        assert problem["rule"] == rule, path
    assert len(history(client, pid)) == before


@pytest.mark.parametrize(
    ("agency", "elsewhere", "rule"),
    [
        ("health", False, "official_agency_takes_part"),
        ("education", True, "official_own_municipality"),
    ],
)
def test_an_official_out_of_scope_answers_403_naming_the_rule_and_writes_nothing(
    client: TestClient,
    services: Services,
    municipality: str,
    agency: str,
    elsewhere: bool,
    rule: str,
) -> None:
    pid = create_project(client, municipality)["id"]  # education, culture, sport take part
    d = plan_deliverable(client, pid)["deliverable_id"]
    outsider = official_headers(
        agency,
        actor_id=f"outsider-{agency}",
        municipality=f"{municipality} (elsewhere)" if elsewhere else None,
    )
    assert outsider.actor_id  # minted before nothing_written counts
    before = len(history(client, pid))
    for path, body in [
        ("deliverables", deliverable_body()),
        (f"deliverables/{d}/submit", {"document_ref": "doc-1"}),
        ("gate/pass", gate_body()),
        ("suspend", {"reason": "Not ours to suspend"}),
        ("cancel", {"reason": "Not ours to cancel"}),
    ]:
        with nothing_written(services):
            response = client.post(f"{API}/projects/{pid}/{path}", json=body, headers=outsider)
        problem = assert_problem(response, 403)
        assert problem["type"] == "/problems/permission-denied", path
        assert problem["rule"] == rule, path
    assert len(history(client, pid)) == before


def test_a_stale_if_match_answers_412_with_the_current_version(
    client: TestClient, services: Services, municipality: str
) -> None:
    pid = create_project(client, municipality)["id"]
    plan_deliverable(client, pid)  # the project is now at version 2
    url = f"{API}/projects/{pid}/deliverables"
    for stale in ('"1"', '"3"', "1", 'W/"7"'):
        with nothing_written(services):
            response = client.post(
                url, json=deliverable_body(), headers=official_headers(If_Match=stale)
            )
        problem = assert_problem(response, 412)
        assert problem["type"] == "/problems/stale-version"
        assert problem["current_version"] == 2

    # The current version is accepted, as are its weak form and "*".
    for current, version in (('"2"', 3), ('W/"3"', 4), ("*", 5)):
        response = client.post(
            url, json=deliverable_body(), headers=official_headers(If_Match=current)
        )
        assert response.status_code == 201, response.text
        assert response.json()["version"] == version


@pytest.mark.parametrize("value", ["abc", '"v2"', '"1", "2"', '"-1"', "1234567890123"])
def test_a_malformed_if_match_answers_422(
    client: TestClient, services: Services, municipality: str, value: str
) -> None:
    pid = create_project(client, municipality)["id"]
    with nothing_written(services):
        response = client.post(
            f"{API}/projects/{pid}/gate/reject",
            json=gate_body(),
            headers=official_headers(If_Match=value),
        )
    problem = assert_problem(response, 422)
    assert fields(problem) == {"If-Match"}
    assert problem["errors"][0]["location"] == "header"


# -- routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing", "/api/v2/projects", f"{API}/projects/{UNKNOWN}/teleport"]
)
def test_an_unknown_route_answers_a_404_problem(
    client: TestClient, services: Services, path: str
) -> None:
    with nothing_written(services):
        response = client.post(path, json={}, headers=official_headers())
    problem = assert_problem(response, 404)
    assert problem["type"] == "about:blank"
    assert problem["title"] == "Not found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"{API}/projects/{UNKNOWN}"),
        ("PUT", f"{API}/projects"),
        ("GET", f"{API}/projects/{UNKNOWN}/gate/pass"),
        ("POST", "/health"),
    ],
)
def test_a_wrong_method_answers_a_405_problem_with_allow(
    client: TestClient, services: Services, method: str, path: str
) -> None:
    with nothing_written(services):
        response = client.request(method, path, headers=official_headers())
    problem = assert_problem(response, 405)
    assert problem["title"] == "Method not allowed"
    assert response.headers["Allow"]
    assert method not in response.headers["Allow"]
