"""Limits: request body size (413), bounded schemas and pages (422), statement timeout (503).

Each answer is a problem+json; none is a 500, and a refused request writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from interagency.services import Services
from interagency.settings import Settings
from projections.runtime import ProjectionWorker
from tests.e2e.conftest import API, assert_problem, official_headers, project_body, role_headers

AUDITOR = role_headers("auditor")
OFFICIAL = official_headers("education")


@pytest.fixture
def limited_client(
    settings: Settings, services: Services, worker: ProjectionWorker
) -> Iterator[TestClient]:
    """The API over the session's services, with small limits: 4 KiB bodies, 300 ms reads."""
    limited = settings.model_copy(update={"max_body_bytes": 4096, "statement_timeout_ms": 300})
    with TestClient(create_app(limited, services)) as c:
        yield c


def _projects_in(client: TestClient, services: Services, municipality: str) -> int:
    """The test's municipality's projects, once the projection has seen every event."""
    head = services.app.recorder.max_notification_id() or 0
    response = client.get(
        f"{API}/projects",
        params={"municipality": municipality, "min_position": head},
        headers=AUDITOR,
    )
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


# -- request body size ----------------------------------------------------------------


def test_default_limit_refuses_a_body_over_one_mebibyte(
    client: TestClient, municipality: str
) -> None:
    body = project_body(municipality, goal="x" * 1_048_576)
    response = client.post(f"{API}/projects", json=body, headers=OFFICIAL)
    problem = assert_problem(response, 413)
    assert problem["type"] == "/problems/body-too-large"
    assert problem["max_bytes"] == 1_048_576
    assert "request_id" in problem


def test_declared_length_over_the_limit_is_refused_unread(
    limited_client: TestClient, services: Services, municipality: str
) -> None:
    body = project_body(municipality, goal="x" * 3000, title="y" * 300)
    body["strategic_priorities"] = ["z" * 400] * 5
    response = limited_client.post(f"{API}/projects", json=body, headers=OFFICIAL)
    problem = assert_problem(response, 413)
    assert problem["type"] == "/problems/body-too-large"
    assert problem["max_bytes"] == 4096
    assert response.headers["x-request-id"] == problem["request_id"]
    assert _projects_in(limited_client, services, municipality) == 0


def test_chunked_body_over_the_limit_is_refused_as_it_arrives(
    limited_client: TestClient, services: Services, municipality: str
) -> None:
    payload = json.dumps(project_body(municipality, goal="x" * 3000)).encode()
    payload = payload[:-1] + b',"pad": "' + b"p" * 2000 + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = limited_client.post(
        f"{API}/projects",
        content=chunks(),
        headers={**OFFICIAL, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    problem = assert_problem(response, 413)
    assert problem["type"] == "/problems/body-too-large"
    assert _projects_in(limited_client, services, municipality) == 0


def test_a_body_within_the_limit_is_served(limited_client: TestClient, municipality: str) -> None:
    response = limited_client.post(
        f"{API}/projects", json=project_body(municipality), headers=OFFICIAL
    )
    assert response.status_code == 201, response.text


# -- bounded schemas and pages --------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strategic_priorities": ["a priority"] * 51}, "strategic_priorities"),
        ({"strategic_priorities": ["p" * 501]}, "strategic_priorities.0"),
        ({"agencies": ["education", "culture"] * 11}, "agencies"),
        ({"title": "t" * 301}, "title"),
    ],
)
def test_oversized_lists_and_strings_are_422(
    client: TestClient,
    services: Services,
    municipality: str,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = client.post(
        f"{API}/projects", json=project_body(municipality, **overrides), headers=OFFICIAL
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "/problems/invalid-input"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert _projects_in(client, services, municipality) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 1_000_001}, "offset"),
    ],
)
def test_pagination_limits_are_enforced(
    client: TestClient, params: dict[str, int], field: str
) -> None:
    for path in ("projects", "organizations", "catalogue/programs"):
        problem = assert_problem(client.get(f"{API}/{path}", params=params), 422)
        assert [e["field"] for e in problem["errors"]] == [field]
    assert client.get(f"{API}/projects", params={"limit": 200}).status_code == 200


def _unbounded(schema: dict[str, Any]) -> list[str]:
    """Where a request's input (body or query) has no upper bound on its size."""
    components = schema["components"]["schemas"]
    found: list[str] = []

    def walk(node: Any, where: str, seen: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], name, seen | {name})
            return
        kind = node.get("type")
        if kind == "array" and "maxItems" not in node:
            found.append(f"{where}: a list without maxItems")
        if kind == "object" and node.get("additionalProperties") and "maxProperties" not in node:
            found.append(f"{where}: a mapping without maxProperties")
        if (
            kind == "string"
            and not {"maxLength", "enum", "const", "pattern"} & node.keys()
            and node.get("format") not in ("uuid", "date", "date-time")
        ):
            found.append(f"{where}: a string without maxLength")
        for key in ("items", "additionalProperties", "propertyNames"):
            walk(node.get(key), f"{where}[]", seen)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}", seen)
        branches = [b for key in ("anyOf", "oneOf", "allOf") for b in node.get(key, [])]
        # A Decimal is a number or its text; its digits are bounded by the domain.
        numeric = any(isinstance(b, dict) and b.get("type") == "number" for b in branches)
        for branch in branches:
            if not (numeric and isinstance(branch, dict) and branch.get("type") == "string"):
                walk(branch, where, seen)

    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method} {path} ?{parameter['name']}", frozenset())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{method} {path}", frozenset())
    return sorted(set(found))


def test_every_input_list_string_and_mapping_is_bounded(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert _unbounded(schema) == []


# -- statement timeout ----------------------------------------------------------------


def test_a_read_past_the_statement_timeout_is_503_and_the_pool_recovers(
    limited_client: TestClient, services: Services
) -> None:
    assert limited_client.get(f"{API}/projects", headers=AUDITOR).status_code == 200
    # Hold a lock the projects list must wait for: its statement runs past 300 ms.
    with psycopg.connect(services.params.conninfo()) as blocker:
        blocker.execute("LOCK TABLE project_summary IN ACCESS EXCLUSIVE MODE")
        response = limited_client.get(f"{API}/projects", headers=AUDITOR)
        blocker.rollback()
    problem = assert_problem(response, 503)
    assert problem["type"] == "/problems/statement-timeout"
    assert response.headers["retry-after"]
    # The cancelled statement's connection went back to the pool in good order.
    assert limited_client.get(f"{API}/projects", headers=AUDITOR).status_code == 200


def test_a_csv_export_past_the_statement_timeout_is_503_too(
    limited_client: TestClient, services: Services
) -> None:
    # The export reads through its own server-side cursor, not the datastore's
    # transaction(): it must carry the same bound.
    analyst = role_headers("analyst")
    url = f"{API}/analytics/projects-by-stage"
    assert limited_client.get(url, params={"format": "csv"}, headers=analyst).status_code == 200
    with psycopg.connect(services.params.conninfo()) as blocker:
        blocker.execute("LOCK TABLE project_summary IN ACCESS EXCLUSIVE MODE")
        response = limited_client.get(url, params={"format": "csv"}, headers=analyst)
        blocker.rollback()
    problem = assert_problem(response, 503)
    assert problem["type"] == "/problems/statement-timeout"
    exported = limited_client.get(url, params={"format": "csv"}, headers=analyst)
    assert exported.status_code == 200
    assert exported.text.startswith("stage,stage_number,")


def test_statement_timeout_zero_means_no_limit(settings: Settings) -> None:
    assert settings.statement_timeout_ms > 0
    unlimited = Settings(_env_file=None, INTERAGENCY_STATEMENT_TIMEOUT_MS="0")  # type: ignore[call-arg]
    assert unlimited.statement_timeout_ms == 0
    with pytest.raises(ValueError, match="INTERAGENCY_MAX_BODY_BYTES"):
        Settings(_env_file=None, INTERAGENCY_MAX_BODY_BYTES="10")  # type: ignore[call-arg]
