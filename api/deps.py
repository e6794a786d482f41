"""Dependencies: the services, the caller and what it may do, If-Match, Idempotency-Key.

Every route names its access here: ``ActorDep`` (a write; officials, scope checked by the
pipeline), ``AdminDep`` (principals), ``Reads*`` (a read of one kind), or nothing for the
public catalogue and health.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import BadHeaderError
from domain.values import EventMeta
from interagency.access import acting_as_caller
from interagency.application import InteragencyApplication
from interagency.auth import (
    TOKEN_PREFIX,
    AdminAction,
    AuthenticatedPrincipal,
    AuthenticationError,
    AuthFailure,
    ReadKind,
    can_administer,
    can_read,
    can_read_kind,
    can_write_at_all,
    read_municipality,
    require,
)
from interagency.idempotency import IdempotencyContext, fingerprint
from interagency.jwt_auth import JWTVerifier
from interagency.services import Services
from interagency.settings import Settings

log = structlog.get_logger("interagency.api")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_application(request: Request) -> InteragencyApplication:
    return get_services(request).app


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description=(
        "A token issued by `interagency principals add` (or printed by `interagency demo`): "
        "`iat_...`. When the municipality's identity provider is configured, its JWT."
    ),
)


def get_jwt_verifier(request: Request) -> JWTVerifier | None:
    verifier: JWTVerifier | None = getattr(request.app.state, "jwt_verifier", None)
    return verifier


def authenticate(
    services: Annotated[Services, Depends(get_services)],
    settings: Annotated[Settings, Depends(get_settings)],
    verifier: Annotated[JWTVerifier | None, Depends(get_jwt_verifier)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> AuthenticatedPrincipal:
    """The principal the bearer credential proves (401 otherwise).

    Sync: a token is checked against the event store, so this runs in the thread pool.
    """
    if credentials is None:
        log.info("authentication_failed", reason=AuthFailure.MISSING.value)
        raise AuthenticationError(
            AuthFailure.MISSING, "send a credential: Authorization: Bearer <token>"
        )
    token = credentials.credentials.strip()
    if token.startswith(f"{TOKEN_PREFIX}_") or verifier is None:
        return services.app.authenticate(token, today=settings.today())
    return verifier.verify(token)


async def get_caller(
    principal: Annotated[AuthenticatedPrincipal, Depends(authenticate)],
) -> AuthenticatedPrincipal:
    """Declares the authenticated caller for this request's logs and commands.

    Async on purpose: set on the request's own task, the caller appears on every log line
    the route writes and is seen by the command pipeline's access check (the sync route
    runs in a copy of this context).
    """
    structlog.contextvars.bind_contextvars(
        actor_id=principal.subject,
        actor_role=principal.role.value,
        actor_agency=None if principal.agency is None else principal.agency.value,
    )
    acting_as_caller(principal)
    return principal


CallerDep = Annotated[AuthenticatedPrincipal, Depends(get_caller)]


def get_actor(request: Request, caller: CallerDep) -> EventMeta:
    """The actor of a write: the authenticated principal, never a header or the body.

    Refuses read-only roles here, before the body is looked at; the target's own scope
    (municipality, agencies taking part) is checked by the command pipeline on load.
    """
    require(can_write_at_all(caller))
    return caller.meta(getattr(request.state, "request_id", None))


def get_admin(request: Request, caller: CallerDep) -> EventMeta:
    """The actor of an administrative write: admins only."""
    require(can_administer(caller, AdminAction.MANAGE_PRINCIPALS))
    return caller.meta(getattr(request.state, "request_id", None))


@dataclass(frozen=True)
class Reader:
    """An authenticated reader of one kind of data; narrows and checks municipalities."""

    principal: AuthenticatedPrincipal
    kind: ReadKind

    def municipality(self, requested: str | None) -> str | None:
        """The municipality filter of a list read (a limited principal is pinned to its own)."""
        return read_municipality(self.principal, requested)

    def check(self, municipality: str | None) -> None:
        """Refuses (403) a read of one municipality's data this principal may not see."""
        require(can_read(self.principal, self.kind, municipality))


def reads(kind: ReadKind) -> Callable[[AuthenticatedPrincipal], Reader]:
    def dependency(caller: CallerDep) -> Reader:
        require(can_read_kind(caller, kind))
        return Reader(caller, kind)

    dependency.__name__ = f"reads_{kind.value}"
    return dependency


_ETAG = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')


def get_expected_version(
    if_match: Annotated[str | None, Header(max_length=64)] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG.match(if_match.strip())
    if m is None:
        raise BadHeaderError("If-Match", 'If-Match must be an ETag such as "3"')
    return int(m.group(1))


_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")


async def get_idempotency(
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> IdempotencyContext | None:
    if idempotency_key is None:
        return None
    if not _KEY.match(idempotency_key):
        raise BadHeaderError(
            "Idempotency-Key", "Idempotency-Key must be 1-200 characters of A-Z a-z 0-9 . _ : -"
        )
    body = await request.body()
    return IdempotencyContext(
        key=idempotency_key,
        fingerprint=fingerprint(request.method, request.url.path, body),
    )


def require_audit_reader(caller: CallerDep) -> AuthenticatedPrincipal:
    """The audit internals span every municipality: unlimited auditors and admins only."""
    require(can_read(caller, ReadKind.AUDIT, None))
    return caller


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AppDep = Annotated[InteragencyApplication, Depends(get_application)]
ActorDep = Annotated[EventMeta, Depends(get_actor)]
AdminDep = Annotated[EventMeta, Depends(get_admin)]
ReadsAggregate = Annotated[Reader, Depends(reads(ReadKind.AGGREGATE))]
ReadsProjection = Annotated[Reader, Depends(reads(ReadKind.PROJECTION))]
ReadsAnalytics = Annotated[Reader, Depends(reads(ReadKind.ANALYTICS))]
ReadsAudit = Annotated[Reader, Depends(reads(ReadKind.AUDIT))]
ReadsPersonal = Annotated[Reader, Depends(reads(ReadKind.PERSONAL))]
ExpectedVersionDep = Annotated[int | None, Depends(get_expected_version)]
IdempotencyDep = Annotated[IdempotencyContext | None, Depends(get_idempotency)]
