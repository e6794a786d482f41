"""End-to-end fixtures: the real FastAPI app over the session database, driven by HTTP.

The app is built with the session ``services`` (it owns nothing) and the session
projection ``worker`` follows the log, so projection reads with ``min_position`` see
every write at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.main import create_app
from domain.values import EventMeta
from interagency.cli_principals import add_with_token
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
        c.event_hooks["request"].append(_default_reader)
        yield c


def _default_reader(request: httpx.Request) -> None:
    """A request sent without credentials reads as an auditor (who reads everything).

    Tests of anonymous access send ``Authorization: ""`` (see ``ANONYMOUS``): an empty
    header is no credential to the API.
    """
    if "authorization" not in request.headers:
        token, _ = _CURRENT["credentials"].issue("auditor", None, None, "default-reader")
        request.headers["Authorization"] = f"Bearer {token}"


ANONYMOUS = {"Authorization": ""}


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


class Credentials:
    """Test principals, registered through the application and cached for the session.

    A token is minted the first time a (role, agency, municipality, name) is asked for;
    officials default to the current test's municipality.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._issued: dict[tuple[str, str | None, str | None, str], tuple[str, str]] = {}

    def issue(
        self, role: str, agency: str | None, municipality: str | None, name: str
    ) -> tuple[str, str]:
        """The token and principal id (actor id) of that principal."""
        key = (role, agency, municipality, name)
        if key not in self._issued:
            issued = add_with_token(
                self.services.app,
                SETUP_META,
                name=name,
                role=role,
                agency=agency,
                municipality=municipality,
                label="e2e",
                expires_on=None,
                today=self.services.settings.today(),
            )
            assert issued.token is not None
            self._issued[key] = (issued.token, str(issued.principal_id))
        return self._issued[key]


SETUP_META = EventMeta(actor_id="e2e-setup", actor_role="system")
_CURRENT: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _credentials(services: Services, municipality: str) -> Iterator[None]:
    """Lets ``official_headers`` mint tokens in the session database for this test."""
    if "credentials" not in _CURRENT or _CURRENT["credentials"].services is not services:
        _CURRENT["credentials"] = Credentials(services)
    _CURRENT["municipality"] = municipality
    yield
    _CURRENT.pop("municipality", None)


class AuthHeaders(MutableMapping[str, str]):
    """Request headers whose bearer token is minted when the request is sent.

    Lazy so that module-level constants (``FOUNDER = official_headers(...)``) work: the
    test's municipality and database are known only once the test runs.
    """

    def __init__(
        self,
        role: str,
        agency: str | None,
        municipality: str | None,
        name: str,
        headers: dict[str, str],
    ) -> None:
        self.role = role
        self.agency = agency
        self.municipality = municipality
        self.name = name
        self._headers = headers

    def _issue(self) -> tuple[str, str]:
        municipality = self.municipality
        if municipality is None and self.role == "official":
            municipality = _CURRENT["municipality"]
        credentials: Credentials = _CURRENT["credentials"]
        return credentials.issue(self.role, self.agency, municipality, self.name)

    @property
    def actor_id(self) -> str:
        """The actor id events written with these headers name (the principal's id)."""
        return self._issue()[1]

    def _all(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._issue()[0]}", **self._headers}

    def __getitem__(self, key: str) -> str:
        return self._all()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._headers[key] = value

    def __delitem__(self, key: str) -> None:
        del self._headers[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def official_headers(
    agency: str | None = "education",
    *,
    actor_id: str | None = None,
    role: str = "official",
    municipality: str | None = None,
    request_id: str | None = None,
    **extra: str,
) -> AuthHeaders:
    """Headers of a request by a principal of ``role`` (an official of ``agency`` by default).

    ``actor_id`` names the principal (its display name); the actor id on events is the
    principal's id (``headers.actor_id``). Officials act in the test's municipality unless
    ``municipality`` names another; other roles are not limited to one.
    """
    headers = {"X-Request-ID": request_id or f"req-{uuid.uuid4().hex}"}
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    if role != "official" and agency == "education":
        agency = None
    name = actor_id or f"{role}-{agency or 'none'}-1"
    return AuthHeaders(role, agency, municipality, name, headers)


def role_headers(role: str, **kwargs: Any) -> AuthHeaders:
    """Headers of an auditor, analyst or admin (not limited to a municipality)."""
    return official_headers(None, role=role, **kwargs)


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
