"""Schemas of principal management (admins only). Secrets appear once, on issue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints

from api.schemas import Strict
from domain.values import Agency

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _In(Strict):
    model_config = ConfigDict(extra="forbid")


class PrincipalCreate(_In):
    name: Text
    role: Annotated[str, StringConstraints(pattern="^(official|auditor|analyst|admin)$")]
    agency: Agency | None = None
    municipality: Text | None = None
    label: Text | None = None
    expires_on: date | None = None


class TokenCreate(_In):
    label: Text | None = None
    expires_on: date | None = None


class ReasonBody(_In):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class TokenIssuedPublic(BaseModel):
    principal_id: UUID
    token_id: str
    token: str | None
    note: str = "Keep the token now: it is shown this once and cannot be shown again."


class TokenPublic(BaseModel):
    token_id: str
    label: str | None
    issued_at: datetime
    expires_on: date | None
    revoked_at: datetime | None
    revoke_reason: str | None


class PrincipalPublic(BaseModel):
    principal_id: UUID
    name: str
    role: str
    agency: str | None
    municipality: str | None
    disabled: bool
    disabled_reason: str | None
    version: int
    tokens: list[TokenPublic]


class PrincipalsPublic(BaseModel):
    items: list[PrincipalPublic]
    total: int
    limit: int
    offset: int


class ProjectionOpsPublic(BaseModel):
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    active: bool
    error_count: int
    last_error: str | None
    error_position: int | None
    error_at: datetime | None
    dead_letters: int


class ProjectionsOpsPublic(BaseModel):
    projections: list[ProjectionOpsPublic]
