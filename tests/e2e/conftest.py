"""End-to-end fixtures: the real FastAPI app over the session database, driven by HTTP.

The app is built with the session ``services`` (it owns nothing) and the session
projection ``worker`` follows the log, so projection reads with ``min_position`` see
every write at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.main import create_app
from interagency.services import Services
from interagency.settings import ConnectionParams, Settings
from interagency.storage import ensure_database
from projections.runtime import ProjectionWorker

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def client(
    settings: Settings, services: Services, worker: ProjectionWorker
) -> Iterator[TestClient]:
    """An HTTP client of the API; the session worker keeps the projections up to date."""
    with TestClient(create_app(settings, services)) as c:
        yield c


@pytest.fixture
def fresh_database(server: ConnectionParams) -> Iterator[Callable[[], ConnectionParams]]:
    """Makes empty databases on the session's server (no worker follows them); drops them."""
    made: list[str] = []

    def make() -> ConnectionParams:
        dbname = f"interagency_e2e_{uuid.uuid4().hex[:12]}"
        ensure_database(server, dbname)
        made.append(dbname)
        return ConnectionParams(server.host, server.port, dbname, server.user, server.password)

    try:
        yield make
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            for dbname in made:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )


@pytest.fixture
def municipality() -> str:
    """A municipality no other test uses, so list filters see this test's projects alone."""
    return f"Test district {uuid.uuid4().hex[:10]}"


def official_headers(
    agency: str | None = "education",
    *,
    actor_id: str | None = None,
    role: str = "official",
    request_id: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Headers of an official's write: who acts (X-Actor-*) and which request it is."""
    headers = {
        "X-Actor-Id": actor_id or f"official-{agency or 'none'}-1",
        "X-Actor-Role": role,
        "X-Request-ID": request_id or f"req-{uuid.uuid4().hex}",
    }
    if agency is not None:
        headers["X-Actor-Agency"] = agency
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


def project_body(municipality: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Сетевая программа «Инженерные каникулы»",
        "goal": "Raise coverage of technical programs for children aged 10-14",
        "municipality": municipality,
        "lead_agency": "education",
        "agencies": ["education", "culture", "sport"],
        "organizations": [
            {"name": "School No. 5", "kind": "general_education", "agency": "education"}
        ],
        "strategic_priorities": ["technical creativity"],
        "targets": [
            {
                "dimension": "coverage",
                "name": "children aged 5-17 covered",
                "target_value": 80,
                "unit": "%",
                "baseline": 71.5,
            }
        ],
    }
    body.update(overrides)
    return body


def deliverable_body(stage: str = "social_ties_program", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "stage": stage,
        "title": f"Deliverable of {stage}",
        "mechanism": "strategic_priorities",
        "mandatory": True,
        "due_date": "2027-03-01",
    }
    body.update(overrides)
    return body


def gate_body(n: int = 1) -> dict[str, str]:
    return {
        "reason": f"Stage {n}: every mandatory deliverable is approved",
        "decision_ref": f"WG-2027/{n:02d} item 2",
        "basis_document": f"Order No. {100 + n}",
    }


def expect_ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def create_project(client: TestClient, municipality: str, **overrides: Any) -> dict[str, Any]:
    """Initiates a project over HTTP; returns the write's answer (id, version, position)."""
    response = client.post(
        f"{API}/projects", json=project_body(municipality, **overrides), headers=official_headers()
    )
    return expect_ok(response, 201)


def plan_deliverable(
    client: TestClient, project_id: str, stage: str = "social_ties_program", **overrides: Any
) -> dict[str, Any]:
    response = client.post(
        f"{API}/projects/{project_id}/deliverables",
        json=deliverable_body(stage, **overrides),
        headers=official_headers(),
    )
    return expect_ok(response, 201)


def command(
    client: TestClient, project_id: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A POST command on the project that must be accepted (200)."""
    response = client.post(
        f"{API}/projects/{project_id}/{path}", json=body, headers=official_headers()
    )
    return expect_ok(response)


def approve_through(client: TestClient, project_id: str, deliverable_id: str) -> dict[str, Any]:
    """Submits then approves a deliverable; returns the approval's answer."""
    command(client, project_id, f"deliverables/{deliverable_id}/submit", {"document_ref": "doc"})
    return command(client, project_id, f"deliverables/{deliverable_id}/approve")


def history(client: TestClient, project_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = expect_ok(client.get(f"{API}/projects/{project_id}/history"))[
        "events"
    ]
    return events


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with every member this API promises."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    for member in ("type", "title", "status", "detail", "instance"):
        assert member in body, f"problem without {member!r}: {body}"
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["instance"] == response.request.url.path
    return body
