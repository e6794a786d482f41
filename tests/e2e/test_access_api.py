"""Access control over HTTP: every route's guard, revocation, actors from the credential."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from api.main import create_app
from interagency.services import Services
from interagency.settings import Settings
from tests.e2e.conftest import (
    ANONYMOUS,
    API,
    assert_problem,
    create_project,
    expect_ok,
    history,
    official_headers,
    project_body,
    role_headers,
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Reads anyone may make, credential or not: families' catalogue, health probes, the docs.
PUBLIC_READS = {
    "/health",
    "/ready",
    f"{API}/health",
    f"{API}/ready",
    f"{API}/catalogue/programs",
    f"{API}/catalogue/programs/{{program_id}}",
}


def _routes(client: TestClient, methods: set[str]) -> list[tuple[str, str]]:
    """Every (method, path) the application serves, included routers flattened."""
    app: Any = client.app
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            for method in sorted((route.methods or set()) & methods):
                found.append((method, route.path))
    return found


def _concrete(path: str) -> str:
    """A path with every parameter filled with a well-formed value of its kind."""

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "token_id":
            return uuid.uuid4().hex
        if name == "stage":
            return "social_ties_program"
        return str(uuid.uuid4())

    return re.sub(r"\{([a-z_]+)\}", value, path)


def test_the_route_table_has_write_routes_to_check(client: TestClient) -> None:
    writes = _routes(client, WRITE_METHODS)
    # Projects, groups, decisions, assignments, registers, agreements, principals.
    assert len(writes) > 50
    assert ("POST", f"{API}/admin/principals") in writes


def test_every_write_route_refuses_a_request_without_credentials(client: TestClient) -> None:
    unprotected = []
    for method, path in _routes(client, WRITE_METHODS):
        response = client.request(method, _concrete(path), json={}, headers=ANONYMOUS)
        if response.status_code != 401:
            unprotected.append((method, path, response.status_code))
            continue
        body = assert_problem(response, 401)
        assert body["reason"] == "missing"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert unprotected == []


def test_every_write_route_refuses_the_wrong_role(client: TestClient) -> None:
    """Auditors write nothing, analysts write nothing, admins only manage principals."""
    wrong: list[tuple[str, str, str, int]] = []
    for method, path in _routes(client, WRITE_METHODS):
        roles = ["auditor", "analyst", "official"] if "/admin/" in path else ["auditor", "analyst"]
        if "/admin/" not in path:
            roles.append("admin")
        for role in roles:
            headers = official_headers() if role == "official" else role_headers(role)
            response = client.request(method, _concrete(path), json={}, headers=headers)
            if response.status_code != 403:
                wrong.append((method, path, role, response.status_code))
            else:
                assert "rule" in response.json()
    assert wrong == []


def test_every_read_route_but_the_public_ones_needs_credentials(client: TestClient) -> None:
    open_reads = []
    for method, path in _routes(client, {"GET"}):
        if path in PUBLIC_READS:
            continue
        response = client.request(method, _concrete(path), headers=ANONYMOUS)
        if response.status_code != 401:
            open_reads.append((path, response.status_code))
    assert open_reads == []


def test_the_public_catalogue_and_health_answer_without_credentials(client: TestClient) -> None:
    for path in (f"{API}/catalogue/programs", f"{API}/health", "/ready"):
        assert client.get(path, headers=ANONYMOUS).status_code == 200


def test_an_official_of_an_agency_not_taking_part_is_refused(
    client: TestClient, municipality: str
) -> None:
    project = create_project(
        client, municipality, lead_agency="education", agencies=["education", "culture"]
    )
    pid = project["id"]
    response = client.post(
        f"{API}/projects/{pid}/suspend",
        json={"reason": "sport wants it stopped"},
        headers=official_headers("sport"),
    )
    body = assert_problem(response, 403)
    assert body["rule"] == "official_agency_takes_part"
    # Nothing was written: the project is where it was.
    assert history(client, pid)[-1]["version"] == project["version"]
    # A participating agency's official may.
    ok = client.post(
        f"{API}/projects/{pid}/suspend",
        json={"reason": "pause for the budget"},
        headers=official_headers("culture"),
    )
    expect_ok(ok)


def test_an_official_cannot_create_a_project_their_agency_is_not_part_of(
    client: TestClient, municipality: str
) -> None:
    response = client.post(
        f"{API}/projects",
        json=project_body(municipality, lead_agency="culture", agencies=["culture", "education"]),
        headers=official_headers("sport"),
    )
    assert assert_problem(response, 403)["rule"] == "official_agency_takes_part"


def test_an_official_writes_and_reads_only_in_their_own_municipality(
    client: TestClient, municipality: str
) -> None:
    other = f"Other district {uuid.uuid4().hex[:8]}"
    project = create_project(client, municipality)
    stranger = official_headers("education", municipality=other, actor_id="stranger")
    write = client.post(
        f"{API}/projects/{project['id']}/suspend", json={"reason": "x"}, headers=stranger
    )
    assert assert_problem(write, 403)["rule"] == "official_own_municipality"
    read = client.get(f"{API}/projects/{project['id']}", headers=stranger)
    assert assert_problem(read, 403)["rule"] == "own_municipality"
    # Lists are narrowed to the official's own municipality; asking for another is refused.
    mine = client.get(
        f"{API}/projects",
        params={"min_position": project["position"]},
        headers=official_headers("education"),
    )
    assert {p["municipality"] for p in expect_ok(mine)["items"]} == {municipality}
    asked = client.get(f"{API}/projects", params={"municipality": other}, headers=stranger)
    assert expect_ok(asked)["items"] == []
    refused = client.get(f"{API}/projects", params={"municipality": municipality}, headers=stranger)
    assert_problem(refused, 403)


def test_analysts_read_projections_but_no_audit_internals_or_aggregate_state(
    client: TestClient, municipality: str
) -> None:
    project = create_project(client, municipality)
    analyst = role_headers("analyst")
    listed = client.get(
        f"{API}/projects",
        params={"municipality": municipality, "min_position": project["position"]},
        headers=analyst,
    )
    assert expect_ok(listed)["total"] == 1
    coverage = client.get(f"{API}/coverage", params={"year": 2027}, headers=analyst)
    assert coverage.status_code == 200, coverage.text
    audit = client.get(f"{API}/audit/events", headers=analyst)
    assert assert_problem(audit, 403)["rule"] == "audit_for_auditors_and_admins"
    state = client.get(f"{API}/projects/{project['id']}/history", headers=analyst)
    assert assert_problem(state, 403)["rule"] == "analysts_read_projections_and_analytics"


def test_officials_do_not_read_the_audit_log_and_auditors_do(client: TestClient) -> None:
    refused = client.get(f"{API}/audit/events", headers=official_headers())
    assert assert_problem(refused, 403)["rule"] == "audit_for_auditors_and_admins"
    assert client.get(f"{API}/audit/events", headers=role_headers("auditor")).status_code == 200


def test_every_event_written_through_the_api_names_the_authenticated_principal(
    client: TestClient, municipality: str
) -> None:
    headers = official_headers("culture", actor_id="Иванова И. И.")
    created = client.post(
        f"{API}/projects",
        json=project_body(municipality, lead_agency="culture"),
        # Headers of the old scheme are ignored: the credential alone says who acts.
        headers={**headers, "X-Actor-Id": "someone-else", "X-Actor-Role": "admin"},
    )
    pid = expect_ok(created, 201)["id"]
    client.post(
        f"{API}/projects/{pid}/deliverables",
        json={"stage": "social_ties_program", "title": "Plan", "mechanism": "strategic_priorities"},
        headers=headers,
    )
    events = history(client, pid)
    assert len(events) == 2
    for event in events:
        assert event["actor"] == {"id": headers.actor_id, "role": "official", "agency": "culture"}


def test_a_revoked_token_is_refused_at_once(client: TestClient, municipality: str) -> None:
    admin = role_headers("admin")
    issued = expect_ok(
        client.post(
            f"{API}/admin/principals",
            json={
                "name": "Петрова",
                "role": "official",
                "agency": "education",
                "municipality": municipality,
            },
            headers=admin,
        ),
        201,
    )
    token = issued["token"]
    assert token.startswith("iat_")
    bearer = {"Authorization": f"Bearer {token}"}
    project = client.post(f"{API}/projects", json=project_body(municipality), headers=bearer)
    assert expect_ok(project, 201)
    # Principals are listed in the order registered: this one is on the last page.
    total = expect_ok(client.get(f"{API}/admin/principals", headers=admin))["total"]
    last_page = {"offset": max(total - 50, 0)}
    listed = expect_ok(client.get(f"{API}/admin/principals", params=last_page, headers=admin))[
        "items"
    ]
    mine = next(p for p in listed if p["principal_id"] == issued["principal_id"])
    assert [t["token_id"] for t in mine["tokens"]] == [issued["token_id"]]
    assert token not in str(listed)

    revoked = client.post(
        f"{API}/admin/tokens/{issued['token_id']}/revoke",
        json={"reason": "laptop lost"},
        headers=admin,
    )
    expect_ok(revoked)
    refused = client.get(f"{API}/projects", headers=bearer)
    body = assert_problem(refused, 401)
    assert body["reason"] == "revoked"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    again = client.post(f"{API}/projects", json=project_body(municipality), headers=bearer)
    assert assert_problem(again, 401)["reason"] == "revoked"


def test_refused_credentials_answer_401_with_the_reason(client: TestClient) -> None:
    forged = "iat_" + "0" * 32 + "_" + "A" * 43
    cases = {
        "Bearer nonsense": "malformed",
        f"Bearer {forged}": "unknown_token",
        "Basic dXNlcjpwYXNz": "missing",
    }
    for header, reason in cases.items():
        response = client.get(f"{API}/projects", headers={"Authorization": header})
        assert assert_problem(response, 401)["reason"] == reason


def test_tokens_never_appear_in_logs_and_failures_are_logged_with_the_reason(
    client: TestClient, municipality: str
) -> None:
    admin = role_headers("admin")
    issued = expect_ok(
        client.post(
            f"{API}/admin/principals",
            json={"name": "Log", "role": "auditor"},
            headers=admin,
        ),
        201,
    )
    token = issued["token"]
    secret = token.rsplit("_", 1)[1]
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with capture_logs() as logs:
        client.get(f"{API}/projects", headers={"Authorization": f"Bearer {token}"})
        client.get(f"{API}/projects", headers={"Authorization": f"Bearer {wrong}"})
        client.get(f"{API}/projects", headers={"Authorization": "Bearer not-a-token"})
    text = repr(logs)
    assert secret not in text
    assert wrong.rsplit("_", 1)[1] not in text
    assert "not-a-token" not in text
    failures = [e for e in logs if e["event"] == "authentication_failed"]
    assert [f["reason"] for f in failures] == ["unknown_token", "malformed"]
    assert failures[0]["token_id"] == issued["token_id"]


def test_the_openapi_schema_declares_the_bearer_scheme(client: TestClient) -> None:
    schema = expect_ok(client.get("/openapi.json", headers=ANONYMOUS))
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    create = schema["paths"][f"{API}/projects"]["post"]
    assert create["security"] == [{"bearer": []}]
    assert "401" in create["responses"]
    assert "403" in create["responses"]
    catalogue = schema["paths"][f"{API}/catalogue/programs"]["get"]
    assert "security" not in catalogue


@pytest.mark.parametrize("role", ["auditor", "analyst", "admin"])
def test_principals_need_the_admin_role_to_be_managed(client: TestClient, role: str) -> None:
    response = client.get(f"{API}/admin/principals", headers=role_headers(role))
    if role == "admin":
        assert response.status_code == 200
    else:
        assert assert_problem(response, 403)["rule"] == "admins_administer"


def test_a_jwt_of_the_identity_provider_authenticates_and_names_its_subject(
    settings: Settings, services: Services, municipality: str, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    issuer = "https://idp.example.test/realms/municipality"
    jwt_settings = settings.model_copy(
        update={
            "jwt_issuer": issuer,
            "jwt_audience": "interagency",
            "jwt_public_key_file": key_file,
        }
    )
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": issuer,
            "aud": "interagency",
            "sub": "petrova",
            "name": "Петрова М. С.",
            "role": "official",
            "agency": "culture",
            "municipality": municipality,
            "iat": now,
            "exp": now + 300,
        },
        key,
        algorithm="RS256",
    )
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(jwt_settings, services)) as c:
        created = c.post(
            f"{API}/projects",
            json=project_body(municipality, lead_agency="culture"),
            headers=bearer,
        )
        pid = expect_ok(created, 201)["id"]
        events = expect_ok(c.get(f"{API}/projects/{pid}/history", headers=bearer))["events"]
        assert events[0]["actor"] == {"id": "jwt:petrova", "role": "official", "agency": "culture"}
        # A token of this service still works beside the JWTs.
        token_reader = c.get(f"{API}/projects/{pid}", headers=official_headers("culture"))
        assert token_reader.status_code == 200
        forged = jwt.encode(
            {"iss": issuer, "aud": "interagency", "sub": "x", "exp": now + 300},
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            algorithm="RS256",
        )
        refused = c.get(f"{API}/projects", headers={"Authorization": f"Bearer {forged}"})
        assert assert_problem(refused, 401)["reason"] == "bad_signature"
