"""Dependencies: the services, the actor (kept here alone), If-Match, Idempotency-Key."""

from __future__ import annotations

import re
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request

from api.errors import AuthenticationRequiredError, BadHeaderError
from domain.values import Agency, EventMeta, Role
from interagency.application import InteragencyApplication
from interagency.idempotency import IdempotencyContext, fingerprint
from interagency.services import Services
from interagency.settings import Settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_application(request: Request) -> InteragencyApplication:
    return get_services(request).app


async def get_actor(
    request: Request,
    x_actor_id: Annotated[str | None, Header(max_length=200)] = None,
    x_actor_role: Annotated[Role, Header()] = Role.OFFICIAL,
    x_actor_agency: Annotated[Agency | None, Header()] = None,
) -> EventMeta:
    """Who is acting. The one place the actor comes from until access control exists.

    Async on purpose: binding the actor to the logging context here, on the request's
    own task, makes it appear on every log line the route writes afterwards.
    """
    if not x_actor_id or not x_actor_id.strip():
        raise AuthenticationRequiredError(
            "writes need an actor: send the X-Actor-Id header (and X-Actor-Role, X-Actor-Agency)"
        )
    structlog.contextvars.bind_contextvars(
        actor_id=x_actor_id,
        actor_role=x_actor_role.value,
        actor_agency=None if x_actor_agency is None else x_actor_agency.value,
    )
    return EventMeta(
        actor_id=x_actor_id.strip(),
        actor_role=x_actor_role.value,
        actor_agency=None if x_actor_agency is None else x_actor_agency.value,
        correlation_id=getattr(request.state, "request_id", None),
    )


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


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AppDep = Annotated[InteragencyApplication, Depends(get_application)]
ActorDep = Annotated[EventMeta, Depends(get_actor)]
ExpectedVersionDep = Annotated[int | None, Depends(get_expected_version)]
IdempotencyDep = Annotated[IdempotencyContext | None, Depends(get_idempotency)]
