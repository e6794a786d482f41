"""Organisations of the network and their licence register entries (writes and single reads).

Lists of organisations are projection reads (``api/routes/network.py``); here the register
entry of one organisation is read from its events.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import ActorDep, AppDep, ExpectedVersionDep, IdempotencyDep, ReadsAggregate
from api.organization_schemas import (
    LicenceCreate,
    LicenceCreated,
    LicenceEntryPublic,
    LicenceStatusChange,
    NameRecordPublic,
    OrganizationCreate,
    OrganizationRename,
    OrganizationReorganize,
    RegisteredOrganizationPublic,
    ReorganizationPublic,
)
from api.routes.common import READ_ERRORS, WRITE_ERRORS, accepted
from api.routes.projects import HISTORY_LIMIT, AfterVersion, HistoryLimit, history_page
from api.schemas import CommandAccepted, HistoryPublic
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, reference_date, state_headers
from domain.organization import Organization
from domain.values import EventMeta
from interagency.application import InteragencyApplication
from interagency.idempotency import IdempotencyContext, new_id
from interagency.pipeline import CommandResult

router = APIRouter(prefix="/organizations", tags=["network"])

OrganizationId = Annotated[UUID, "organization id"]


def _location(response: Response, organization_id: UUID) -> None:
    response.headers["Location"] = f"/api/v1/organizations/{organization_id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Register an organisation of the network (one per INN)",
)
def register_organization(
    body: OrganizationCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.register_organization(
        meta,
        name=body.name,
        inn=body.inn,
        kind=body.kind.value,
        agency=body.agency.value,
        founder=body.founder,
        municipality=body.municipality,
        address=body.address,
        organization_id=new_id(idem, "organization"),
        idempotency=idem,
    )
    _location(response, result.aggregate_id)
    return accepted(response, result)


@router.get(
    "/{organization_id}",
    response_model=RegisteredOrganizationPublic,
    responses=PAST_READ_ERRORS,
    summary="The organisation now, or as_of a moment / at a version (from its events): "
    "licences, names; ETag is its version",
)
def get_organization(
    reader: ReadsAggregate,
    organization_id: OrganizationId,
    app: AppDep,
    response: Response,
    at: PointInTimeDep,
    on: Annotated[
        date | None,
        Query(
            description="The date licensed_for_additional_education is answered for "
            "(default: the UTC date of as_of, or of the version's event, else today)"
        ),
    ] = None,
) -> RegisteredOrganizationPublic:
    o = app.get_organization(organization_id, at.version, at.as_of)
    reader.check(o.municipality)
    state_headers(response, o, at)
    return organization_public(o, on or reference_date(at, o).astimezone(UTC).date())


def organization_public(o: Organization, on: date) -> RegisteredOrganizationPublic:
    return RegisteredOrganizationPublic(
        id=o.id,
        version=o.version,
        name=o.name,
        inn=o.inn,
        kind=o.kind,
        agency=o.agency,
        founder=o.founder,
        municipality=o.municipality,
        address=o.address,
        is_educational=o.is_educational,
        licensed_for_additional_education=o.licensed_for_additional_education(on),
        licences=[
            LicenceEntryPublic(
                licence_id=lic.licence_id,
                number=lic.number,
                sub_kinds=list(lic.sub_kinds),
                issued_on=lic.issued_on,
                issuer=lic.issuer,
                status=lic.status,
                status_since=lic.status_since,
            )
            for lic in o.licences.values()
        ],
        names=[NameRecordPublic(name=n.name, since=n.since, via=n.via) for n in o.names],
        reorganizations=[
            ReorganizationPublic(form=r.form, effective_on=r.effective_on)
            for r in o.reorganizations
        ],
        created_at=o.created_on,
        modified_at=o.modified_on,
    )


@router.get(
    "/{organization_id}/history",
    response_model=HistoryPublic,
    responses=READ_ERRORS,
    summary="The organisation's events in order: who, when, why, which request",
)
def organization_history(
    reader: ReadsAggregate,
    organization_id: OrganizationId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    # Ensure the id names an organisation, not another kind of aggregate.
    reader.check(app.get_organization(organization_id).municipality)
    return history_page(app, organization_id, after_version, limit)


@router.post(
    "/{organization_id}/rename",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Rename the organisation (the previous name stays in its history)",
)
def rename_organization(
    organization_id: OrganizationId,
    body: OrganizationRename,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.rename_organization(
            meta.because(body.reason, basis_document=body.basis_document),
            organization_id,
            name=body.name,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/{organization_id}/reorganize",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Record a reorganisation: the fields given change; id, INN, licences and history stay",
)
def reorganize_organization(
    organization_id: OrganizationId,
    body: OrganizationReorganize,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.reorganize_organization(
            meta.because(body.reason, basis_document=body.basis_document),
            organization_id,
            form=body.form.value,
            effective_on=body.effective_on,
            name=body.name,
            kind=None if body.kind is None else body.kind.value,
            agency=None if body.agency is None else body.agency.value,
            founder=body.founder,
            address=body.address,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/{organization_id}/licences",
    status_code=status.HTTP_201_CREATED,
    response_model=LicenceCreated,
    responses=WRITE_ERRORS,
    summary="Register a licence entry (active from its issue date)",
)
def register_licence(
    organization_id: OrganizationId,
    body: LicenceCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> LicenceCreated:
    licence_id = new_id(idem, "licence")
    result = app.register_licence(
        meta.because(body.reason, basis_document=body.basis_document),
        organization_id,
        number=body.number,
        sub_kinds=[s.value for s in body.sub_kinds],
        issued_on=body.issued_on,
        issuer=body.issuer,
        licence_id=licence_id,
        expected_version=expected,
        idempotency=idem,
    )
    _location(response, organization_id)
    return LicenceCreated(**accepted(response, result).model_dump(), licence_id=licence_id)


def _licence_change(
    command: str,
    app: InteragencyApplication,
    meta: EventMeta,
    organization_id: UUID,
    licence_id: UUID,
    body: LicenceStatusChange,
    expected: int | None,
    idem: IdempotencyContext | None,
) -> CommandResult:
    change = {
        "suspend": app.suspend_licence,
        "reinstate": app.reinstate_licence,
        "terminate": app.terminate_licence,
    }[command]
    return change(
        meta.because(body.reason, basis_document=body.basis_document),
        organization_id,
        licence_id,
        effective_on=body.effective_on,
        expected_version=expected,
        idempotency=idem,
    )


@router.post(
    "/{organization_id}/licences/{licence_id}/suspend",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Suspend an active licence",
)
def suspend_licence(
    organization_id: OrganizationId,
    licence_id: UUID,
    body: LicenceStatusChange,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = _licence_change(
        "suspend", app, meta, organization_id, licence_id, body, expected, idem
    )
    return accepted(response, result)


@router.post(
    "/{organization_id}/licences/{licence_id}/reinstate",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Reinstate a suspended licence",
)
def reinstate_licence(
    organization_id: OrganizationId,
    licence_id: UUID,
    body: LicenceStatusChange,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = _licence_change(
        "reinstate", app, meta, organization_id, licence_id, body, expected, idem
    )
    return accepted(response, result)


@router.post(
    "/{organization_id}/licences/{licence_id}/terminate",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Terminate a licence (final)",
)
def terminate_licence(
    organization_id: OrganizationId,
    licence_id: UUID,
    body: LicenceStatusChange,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = _licence_change(
        "terminate", app, meta, organization_id, licence_id, body, expected, idem
    )
    return accepted(response, result)
