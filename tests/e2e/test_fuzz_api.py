"""Fuzzing: schemathesis drives every operation of the API's own OpenAPI schema in-process.

Each operation is fuzzed three times, with a bounded number of examples each:

* ``valid``: the credential the route is for (an official of the test's municipality for
  writes, an auditor for reads, an analyst for analytics, an admin for administration),
  with data that matches the schema and data that does not, on random ids and, for
  projects, deliverables and working groups, on real ones of the test's municipality;
* ``none``: no credential at all;
* ``malformed``: a credential that is not one (wrong scheme, garbage, an unknown token).

Any run fails on a 500, on an answer the schema does not declare (status code, content
type, body, headers), and on a write caused by a refused request: the head of the event
log must not move while a request answered 4xx (and never without a credential); and,
the database being up, on a 503. Without a valid credential a secured route answers 401.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from api.main import create_app
from interagency.services import Services
from interagency.settings import Settings
from tests.e2e.conftest import (
    API,
    assert_problem,
    create_project,
    official_headers,
    plan_deliverable,
    project_body,
    role_headers,
)
from tests.e2e.groups_helpers import establish

# Examples per operation and credential mode: 114 operations x 3 modes stay within ~2 min.
EXAMPLES = {"valid": 12, "none": 3, "malformed": 3}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

MALFORMED = (
    "Bearer",
    "Bearer iat_not-a-token",
    "Bearer iat_" + "0" * 64,
    "Basic dXNlcjpwYXNzd29yZA==",
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    "Bearer \t",
    "iat_no-scheme",
    "Bearer " + "x" * 5000,
)


def _operations() -> list[tuple[str, str, bool]]:
    """(method, path, secured) of every operation the app documents (no database needed)."""
    schema = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            found.append((method.upper(), path, bool(operation.get("security"))))
    return found


OPERATIONS = _operations()
SECURED = {(m, p): s for m, p, s in OPERATIONS}


def _role_for(method: str, path: str) -> str:
    """The role a route is for: the one that may use it with any data the fuzzer sends.

    Writes are an official's (of the test's municipality); reads an auditor's, who reads
    every municipality, so arbitrary filters reach the database; analytics an analyst's;
    administration an admin's.
    """
    if path.startswith("/api/v1/admin"):
        return "admin"
    if path.startswith("/api/v1/analytics"):
        return "analyst"
    if method == "GET":
        return "auditor"
    return "official"


_SCHEMA: list[OpenApiSchema] = []


def _schema(client: TestClient) -> OpenApiSchema:
    """The schema the app under test serves (every app of ``create_app`` serves the same)."""
    if not _SCHEMA:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        _SCHEMA.append(schemathesis.openapi.from_dict(response.json()))
    return _SCHEMA[0]


_DROPPED = {"authorization", "user-agent", "connection", "accept-encoding"}
_CONDITIONS = {"if-match", "idempotency-key"}


def _send(
    client: TestClient, case: Case, authorization: str, head: int, conditions: bool
) -> httpx.Response:
    """Sends the case through the app's own client; ``conditions=False`` drops the
    generated If-Match and Idempotency-Key (random ones stop nearly every write at 422)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    dropped = _DROPPED if conditions else _DROPPED | _CONDITIONS
    headers = {k: v for k, v in kwargs["headers"].items() if k.lower() not in dropped}
    headers["Authorization"] = authorization
    params = dict(kwargs.get("params") or {})
    # A position beyond the head makes the read wait out its deadline (a documented 503);
    # the fuzzer need not spend seconds on it.
    if isinstance(params.get("min_position"), int) and params["min_position"] > head:
        params["min_position"] = head
    return client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=params,
        cookies=kwargs.get("cookies") or None,
        json=kwargs.get("json"),
        content=kwargs.get("data"),
        files=kwargs.get("files"),
        follow_redirects=False,
    )


def _fuzz(
    client: TestClient,
    services: Services,
    method: str,
    path: str,
    mode: str,
    authorization: Callable[[st.DataObject], str],
    real_ids: dict[str, str] | None = None,
) -> None:
    operation = _schema(client)[path][method]
    secured = SECURED[(method, path)]
    modes = [GenerationMode.POSITIVE]
    if mode == "valid":
        modes.append(GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=m) for m in modes]
    if real_ids:
        # Some cases reach a real aggregate, past the 404, into its rules.
        strategies += [
            operation.as_strategy(generation_mode=m, path_parameters=real_ids) for m in modes
        ]
    strategy = st.one_of(*strategies)

    @given(case=strategy, data=st.data())
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case, data: st.DataObject) -> None:
        credential = authorization(data)
        head = services.app.head_position()
        conditions = data.draw(st.booleans(), label="conditions")
        response = _send(client, case, credential, head, conditions)
        after = services.app.head_position()
        case.validate_response(response, checks=CHECKS)
        # The database is up and no read waits for a position beyond the head: a 503
        # here is a user mistake mistaken for an outage.
        assert response.status_code != 503, f"{method} {path}: {response.text[:500]}"
        if mode != "valid" and secured:
            assert response.status_code == 401, (
                f"{method} {path} answered {response.status_code} to a {mode} credential"
            )
        if response.status_code >= 400 or mode != "valid":
            assert after == head, (
                f"{method} {path} answered {response.status_code} ({mode} credential) "
                f"but the event log moved from {head} to {after}: {response.text[:500]}"
            )

    run()


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_fuzz_with_valid_credentials(
    client: TestClient, services: Services, municipality: str, method: str, path: str
) -> None:
    role = _role_for(method, path)
    headers = official_headers() if role == "official" else role_headers(role)
    authorization = headers["Authorization"]
    real_ids = _real_ids(client, municipality, path)
    _fuzz(client, services, method, path, "valid", lambda _: authorization, real_ids)


def _real_ids(client: TestClient, municipality: str, path: str) -> dict[str, str]:
    """Ids of aggregates of the test's municipality for the path's parameters it can make."""
    ids: dict[str, str] = {}
    if "{project_id}" in path:
        ids["project_id"] = create_project(client, municipality)["id"]
        if "{deliverable_id}" in path:
            planned = plan_deliverable(client, ids["project_id"])
            ids["deliverable_id"] = planned["deliverable_id"]
    if "{group_id}" in path:
        ids["group_id"] = establish(client, municipality).id
    return ids


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_fuzz_without_credentials(
    client: TestClient, services: Services, method: str, path: str
) -> None:
    _fuzz(client, services, method, path, "none", lambda _: "")


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_fuzz_with_malformed_credentials(
    client: TestClient, services: Services, method: str, path: str
) -> None:
    _fuzz(
        client,
        services,
        method,
        path,
        "malformed",
        lambda data: data.draw(st.sampled_from(MALFORMED), label="authorization"),
    )


@pytest.mark.parametrize(
    "body",
    [
        {"title": "Engineering\x00holidays"},
        {"strategic_priorities": ["technical\x00creativity"]},
        {"organizations": [{"name": "School\x00No. 5", "kind": "general_education"}]},
    ],
)
def test_a_nul_character_in_text_is_refused_at_the_edge(
    client: TestClient, services: Services, municipality: str, body: dict[str, object]
) -> None:
    """PostgreSQL text holds no NUL: an event carrying one would stop the projections."""
    headers = dict(official_headers())  # its token is minted (written) before the count
    head = services.app.head_position()
    response = client.post(
        f"{API}/projects", json=project_body(municipality, **body), headers=headers
    )
    problem = assert_problem(response, 422)
    assert "NUL" in problem["errors"][0]["message"]
    assert services.app.head_position() == head
