"""Projection reads of the network: registers, the public catalogue, coverage.

Included before the organisations', programs' and agreements' routers, so that the fixed
paths here (``/programs/summary``, ``/agreements/expiring``) win over their ``{id}``.
No read here needs an actor; the catalogue is for families and shows no personal data.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import ReadsAnalytics, ReadsProjection, ServicesDep, SettingsDep
from api.network_schemas import (
    AdditionalEducationLicence,
    AgreementRowPublic,
    AgreementsPublic,
    CatalogueProgramPublic,
    CataloguePublic,
    ContributionsPublic,
    CoveragePublic,
    ExpiringAgreementPublic,
    ExpiringPublic,
    OrganizationRowPublic,
    OrganizationsPublic,
    ProgramGroupPublic,
    ProgramRowPublic,
    ProgramsPublic,
    ProgramsSummaryPublic,
    ResourceTypeTotalPublic,
    SliceCoveragePublic,
    TerritoryCoveragePublic,
    UnlicensedPartiesPublic,
    UnlicensedPartyPublic,
)
from api.routes.common import PROJECTION_READ, READ_ERRORS, Limit, MinPosition, Offset, wait_for
from domain.agreement import AgreementStatus
from domain.assignment import Direction
from domain.errors import NotFoundError
from domain.program import ProgramForm, ProgramKind, ProgramStatus
from domain.values import Agency, OrganizationKind
from projections.network import CatalogueFilter, ProgramFilter

router = APIRouter(tags=["network"])

Municipality = Annotated[str | None, Query(min_length=1, max_length=200)]


def _code(value: object | None) -> str | None:
    return None if value is None else str(value)


# -- organisations ---------------------------------------------------------------------


@router.get(
    "/organizations",
    response_model=OrganizationsPublic,
    responses=PROJECTION_READ,
    summary="The organisation register with the state of each one's licences",
)
def organizations(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    municipality: Municipality = None,
    agency: Agency | None = None,
    kind: OrganizationKind | None = None,
    licence_status: Annotated[
        AdditionalEducationLicence | None,
        Query(description="Best status among its additional-education licences"),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> OrganizationsPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    rows, total = services.network.organizations(
        municipality=municipality,
        agency=_code(agency),
        kind=_code(kind),
        licence_status=_code(licence_status),
        limit=limit,
        offset=offset,
    )
    return OrganizationsPublic(
        items=[OrganizationRowPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/organizations/unlicensed-teaching-parties",
    response_model=UnlicensedPartiesPublic,
    responses=PROJECTION_READ,
    summary="Control: base and participant organisations of agreements in force without an "
    "active additional-education licence (a licence suspended after activation)",
)
def unlicensed_teaching_parties(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    on: Annotated[
        date | None, Query(description="The date to check licences on; default today")
    ] = None,
    municipality: Municipality = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> UnlicensedPartiesPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    day = on or settings.today()
    rows, total = services.network.unlicensed_teaching_parties(day, municipality, limit, offset)
    return UnlicensedPartiesPublic(
        on=day,
        items=[UnlicensedPartyPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


# -- programs --------------------------------------------------------------------------


@router.get(
    "/programs",
    response_model=ProgramsPublic,
    responses=PROJECTION_READ,
    summary="Programs of every status, with capacity, enrolments and places left",
)
def programs(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    direction: Direction | None = None,
    agency: Agency | None = None,
    form: ProgramForm | None = None,
    status: ProgramStatus | None = None,
    kind: ProgramKind | None = None,
    municipality: Municipality = None,
    organization_id: Annotated[
        UUID | None, Query(description="Programs this organisation provides or partners in")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> ProgramsPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    rows, total = services.network.programs(
        ProgramFilter(
            direction=_code(direction),
            agency=_code(agency),
            form=_code(form),
            status=_code(status),
            kind=_code(kind),
            municipality=municipality,
            provider_id=organization_id,
        ),
        limit,
        offset,
    )
    return ProgramsPublic(
        items=[ProgramRowPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/programs/summary",
    response_model=ProgramsSummaryPublic,
    responses=PROJECTION_READ,
    summary="Programs, capacity, enrolments and places left by direction, agency and form",
)
def programs_summary(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    municipality: Municipality = None,
    status: ProgramStatus | None = None,
    min_position: MinPosition = None,
) -> ProgramsSummaryPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    groups = services.network.programs_summary(municipality=municipality, status=_code(status))
    return ProgramsSummaryPublic(
        by_direction=[ProgramGroupPublic(**g) for g in groups["direction"]],
        by_agency=[ProgramGroupPublic(**g) for g in groups["agency"]],
        by_form=[ProgramGroupPublic(**g) for g in groups["form"]],
        position=position,
    )


# -- agreements ------------------------------------------------------------------------


@router.get(
    "/agreements",
    response_model=AgreementsPublic,
    responses=PROJECTION_READ,
    summary="Network agreements with the parties, programs and contributions in force",
)
def agreements(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    status: AgreementStatus | None = None,
    in_force: Annotated[bool | None, Query(description="Active or amended")] = None,
    municipality: Municipality = None,
    organization_id: Annotated[UUID | None, Query(description="Agreements it is party to")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> AgreementsPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    rows, total = services.network.agreements(
        status=_code(status),
        municipality=municipality,
        in_force=in_force,
        organization_id=organization_id,
        limit=limit,
        offset=offset,
    )
    return AgreementsPublic(
        items=[AgreementRowPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/agreements/expiring",
    response_model=ExpiringPublic,
    responses=PROJECTION_READ,
    summary="Agreements in force whose term ends within N days of today (and overdue ones)",
)
def expiring_agreements(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    within_days: Annotated[int, Query(ge=0, le=3660)] = 30,
    municipality: Municipality = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> ExpiringPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    today = settings.today()
    rows, total = services.network.expiring(today, within_days, municipality, limit, offset)
    return ExpiringPublic(
        on=today,
        within_days=within_days,
        items=[ExpiringAgreementPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/agreements/contributions",
    response_model=ContributionsPublic,
    responses=PROJECTION_READ,
    summary="Resources contributed under agreements in force, per resource type",
)
def contributions(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    municipality: Municipality = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> ContributionsPublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.network, settings, min_position, response)
    rows, total = services.network.contributions_by_resource_type(municipality, limit, offset)
    return ContributionsPublic(
        items=[ResourceTypeTotalPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


# -- the public catalogue ----------------------------------------------------------------


@router.get(
    "/catalogue/programs",
    response_model=CataloguePublic,
    responses=PROJECTION_READ,
    tags=["catalogue"],
    summary="Public catalogue: published programs, their providers and agreement",
)
def catalogue(
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    direction: Direction | None = None,
    age: Annotated[int | None, Query(ge=0, le=120, description="A child's age")] = None,
    municipality: Municipality = None,
    agency: Agency | None = None,
    form: ProgramForm | None = None,
    has_free_places: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> CataloguePublic:
    position = wait_for(services.network, settings, min_position, response)
    rows, total = services.network.catalogue(
        CatalogueFilter(
            direction=_code(direction),
            age=age,
            municipality=municipality,
            agency=_code(agency),
            form=_code(form),
            has_free_places=has_free_places,
        ),
        limit,
        offset,
    )
    return CataloguePublic(
        items=[CatalogueProgramPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/catalogue/programs/{program_id}",
    response_model=CatalogueProgramPublic,
    responses={**READ_ERRORS, **PROJECTION_READ},
    tags=["catalogue"],
    summary="One published program of the public catalogue (404 if not published)",
)
def catalogue_program(
    program_id: UUID,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> CatalogueProgramPublic:
    wait_for(services.network, settings, min_position, response)
    row = services.network.catalogue_program(program_id)
    if row is None:
        raise NotFoundError(
            f"no published program {program_id} in the catalogue", id=str(program_id)
        )
    return CatalogueProgramPublic(**row)


# -- coverage ----------------------------------------------------------------------------


@router.get(
    "/coverage",
    response_model=CoveragePublic,
    responses=PROJECTION_READ,
    tags=["coverage"],
    summary="Coverage: unique children aged 5-17 enrolled ÷ children aged 5-17, for a year",
)
def coverage(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    year: Annotated[int, Query(ge=2000, le=2100)],
    municipality: Municipality = None,
    min_position: MinPosition = None,
) -> CoveragePublic:
    municipality = reader.municipality(municipality)
    position = wait_for(services.coverage, settings, min_position, response)
    c = services.coverage.coverage(year, municipality)
    return CoveragePublic(
        year=c["year"],
        municipality=c["municipality"],
        population=c["population"],
        territories=c["territories"],
        children=c["children"],
        children_without_population=c["children_without_population"],
        enrolments=c["enrolments"],
        coverage_pct=c["coverage_pct"],
        enrolments_per_child=c["enrolments_per_child"],
        by_territory=[TerritoryCoveragePublic(**r) for r in c["by_territory"]],
        by_agency=[SliceCoveragePublic(**r) for r in c["by_agency"]],
        by_direction=[SliceCoveragePublic(**r) for r in c["by_direction"]],
        by_funding_source=[SliceCoveragePublic(**r) for r in c["by_funding_source"]],
        position=position,
    )
