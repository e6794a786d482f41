"""Organisations of the network register over HTTP.

An organisation is written by an official of its own agency and municipality, so the
helpers register it in the current test's municipality (unless told another) and send the
request as a registrar of the organisation's agency there.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e import conftest as e2e
from tests.e2e.conftest import API, AuthHeaders, expect_ok, official_headers
from tests.organization_helpers import organization_kwargs

REGISTRAR_NAME = "registrar-petrova"
REGISTRAR = official_headers("education", actor_id=REGISTRAR_NAME)


def registrar(agency: str = "education", municipality: str | None = None) -> AuthHeaders:
    """An official of ``agency`` (in ``municipality``, the test's by default) who registers."""
    return official_headers(agency, actor_id=REGISTRAR_NAME, municipality=municipality)


def current_municipality() -> str:
    """The ``municipality`` fixture's value in the running test."""
    municipality: str = e2e._CURRENT["municipality"]
    return municipality


def organization_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with an INN no other test uses, in the test's municipality."""
    return organization_kwargs(**{"municipality": current_municipality(), **overrides})


def register_organization(
    client: TestClient, *, headers: AuthHeaders | None = None, **overrides: Any
) -> str:
    """Registers an organisation over HTTP (by a registrar of its agency); returns its id."""
    body = organization_body(**overrides)
    if headers is None:
        headers = registrar(body["agency"], body["municipality"])
    made = expect_ok(client.post(f"{API}/organizations", json=body, headers=headers), 201)
    return str(made["id"])


def registrar_of(client: TestClient, organization_id: str) -> AuthHeaders:
    """A registrar who may write to that organisation: of its agency and municipality."""
    o = expect_ok(client.get(f"{API}/organizations/{organization_id}"))
    return registrar(o["agency"], o["municipality"])


def register_licence(client: TestClient, organization_id: str, **overrides: Any) -> dict[str, Any]:
    """Registers a licence for additional education; returns the answer (with licence_id)."""
    body: dict[str, Any] = {
        "number": f"Л035-01234-24/{organization_id[:8]}",
        "sub_kinds": ["additional_education_children_adults"],
        "issued_on": "2022-03-15",
        "issuer": "Министерство образования края",
    }
    body.update(overrides)
    return expect_ok(
        client.post(
            f"{API}/organizations/{organization_id}/licences",
            json=body,
            headers=registrar_of(client, organization_id),
        ),
        201,
    )
