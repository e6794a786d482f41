"""Organisations of the network register for tests of any tier: valid, never-repeated INNs."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from domain.organization import inn_with_check_digits
from domain.values import EventMeta
from interagency.application import InteragencyApplication

REGISTRAR = EventMeta(
    actor_id="registrar-1", actor_role="official", actor_agency="education", correlation_id="r-1"
)


def unique_inn(digits: int = 10) -> str:
    """A valid INN (10 digits, or 12) that no other test uses: random, with its check digits."""
    width = 7 if digits == 10 else 8  # after the region code, before the check digits
    region = 1 + secrets.randbelow(99)
    rest = secrets.randbelow(10**width)
    return inn_with_check_digits(f"{region:02d}{rest:0{width}d}")


def organization_kwargs(**overrides: Any) -> dict[str, Any]:
    """The arguments of a valid registration: a centre of additional education."""
    kwargs: dict[str, Any] = {
        "name": "МБУ ДО «Центр детского творчества»",
        "inn": unique_inn(),
        "kind": "additional_education",
        "agency": "education",
        "founder": "Управление образования",
        "municipality": "Северный муниципальный район",
        "address": "рп Северный, ул. Центральная, 12",
    }
    kwargs.update(overrides)
    return kwargs


def register_organization(
    app: InteragencyApplication, meta: EventMeta = REGISTRAR, **overrides: Any
) -> UUID:
    """Registers an organisation through the application; returns its id."""
    return app.register_organization(meta, **organization_kwargs(**overrides)).aggregate_id
