"""Organisations of the network register over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.conftest import API, expect_ok, official_headers
from tests.organization_helpers import organization_kwargs

REGISTRAR = official_headers("education", actor_id="registrar-petrova")


def organization_body(**overrides: Any) -> dict[str, Any]:
    """A valid registration body with an INN no other test uses."""
    return organization_kwargs(**overrides)


def register_organization(client: TestClient, **overrides: Any) -> str:
    """Registers an organisation over HTTP; returns its id."""
    made = expect_ok(
        client.post(f"{API}/organizations", json=organization_body(**overrides), headers=REGISTRAR),
        201,
    )
    return str(made["id"])


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
            f"{API}/organizations/{organization_id}/licences", json=body, headers=REGISTRAR
        ),
        201,
    )
