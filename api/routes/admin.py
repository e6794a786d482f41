"""Administration: principals and tokens, projection status and metrics (admins only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Response
from fastapi.responses import PlainTextResponse

from api.admin_schemas import (
    PrincipalCreate,
    PrincipalPublic,
    PrincipalsPublic,
    ProjectionOpsPublic,
    ProjectionsOpsPublic,
    ReasonBody,
    TokenCreate,
    TokenIssuedPublic,
)
from api.deps import AdminDep, AppDep, CallerDep, ServicesDep, SettingsDep
from api.routes.common import ACCESS_ERRORS, WRITE_ERRORS, Limit, Offset, accepted
from api.schemas import CommandAccepted
from domain.errors import ValidationError
from interagency.auth import AdminAction, AuthenticatedPrincipal, can_administer, require
from interagency.principals import IssuedToken
from projections.ops import prometheus

TokenId = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]


def require_admin(caller: CallerDep) -> AuthenticatedPrincipal:
    require(can_administer(caller, AdminAction.MANAGE_PRINCIPALS))
    return caller


router = APIRouter(
    prefix="/admin",
    tags=["administration"],
    dependencies=[Depends(require_admin)],
    responses=ACCESS_ERRORS,
)


def _issued(issued: IssuedToken) -> TokenIssuedPublic:
    return TokenIssuedPublic(
        principal_id=issued.principal_id, token_id=issued.token_id, token=issued.token
    )


@router.get(
    "/principals",
    response_model=PrincipalsPublic,
    summary="Principals and tokens, in the order registered",
)
def list_principals(app: AppDep, limit: Limit = 50, offset: Offset = 0) -> PrincipalsPublic:
    principals, total = app.principals_page(limit, offset)
    return PrincipalsPublic(
        items=[PrincipalPublic.model_validate(asdict(p)) for p in principals],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/principals",
    status_code=201,
    response_model=TokenIssuedPublic,
    responses=WRITE_ERRORS,
    summary="Register a principal and issue its first token (shown once)",
)
def add_principal(
    body: PrincipalCreate, app: AppDep, meta: AdminDep, settings: SettingsDep
) -> TokenIssuedPublic:
    # Two commands: a token refused after the principal was added would leave a principal
    # behind a 422. The token's one check on input is made before anything is written.
    today = settings.today()
    if body.expires_on is not None and body.expires_on < today:
        raise ValidationError(
            f"expires_on: a token valid until {body.expires_on} would be expired already "
            f"(today is {today})",
            field="expires_on",
        )
    result = app.add_principal(
        meta,
        name=body.name,
        role=body.role,
        agency=None if body.agency is None else body.agency.value,
        municipality=body.municipality,
    )
    return _issued(
        app.issue_token(
            meta,
            result.aggregate_id,
            label=body.label,
            expires_on=body.expires_on,
            today=today,
        )
    )


@router.post(
    "/principals/{principal_id}/tokens",
    status_code=201,
    response_model=TokenIssuedPublic,
    responses=WRITE_ERRORS,
    summary="Issue another token to a principal (shown once)",
)
def issue_token(
    principal_id: UUID, body: TokenCreate, app: AppDep, meta: AdminDep, settings: SettingsDep
) -> TokenIssuedPublic:
    return _issued(
        app.issue_token(
            meta, principal_id, label=body.label, expires_on=body.expires_on, today=settings.today()
        )
    )


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Revoke a token: refused from the next request on",
)
def revoke_token(
    token_id: TokenId, body: ReasonBody, app: AppDep, meta: AdminDep, response: Response
) -> CommandAccepted:
    return accepted(response, app.revoke_token(meta, token_id, reason=body.reason))


@router.post(
    "/principals/{principal_id}/disable",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Disable a principal: every token of theirs is refused from then on",
)
def disable_principal(
    principal_id: UUID, body: ReasonBody, app: AppDep, meta: AdminDep, response: Response
) -> CommandAccepted:
    return accepted(response, app.disable_principal(meta, principal_id, reason=body.reason))


@router.get(
    "/projections",
    response_model=ProjectionsOpsPublic,
    summary="Each projection: position, head, lag in events and seconds, worker, last error",
)
def projections_status(services: ServicesDep) -> ProjectionsOpsPublic:
    return ProjectionsOpsPublic(
        projections=[ProjectionOpsPublic.model_validate(asdict(r)) for r in services.statuses()]
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Projection metrics in Prometheus text format (lag, events, errors)",
)
def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(
        prometheus(services.statuses()), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
