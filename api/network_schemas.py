"""Schemas of the network's projection reads: the register, programs, agreements, the
public catalogue and coverage. Out only: these endpoints take no body."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.agreement import AgreementStatus, NetworkModel, PartyRole, ResourceType
from domain.assignment import Direction
from domain.organization import ReorganizationForm
from domain.program import ProgramForm, ProgramKind, ProgramStatus
from domain.values import Agency, OrganizationKind


class AdditionalEducationLicence(StrEnum):
    """The best status among an organisation's licences for additional education of
    children and adults: ``none`` when it has no such licence at all."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    NONE = "none"


class Row(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- organisations ---------------------------------------------------------------------


class OrganizationRowPublic(Row):
    organization_id: UUID
    name: str
    inn: str
    kind: OrganizationKind
    agency: Agency
    founder: str
    municipality: str
    address: str
    reorganization_form: ReorganizationForm | None
    reorganized_on: date | None
    licences: int = Field(description="Licence entries of any sub-kind and status")
    additional_education_licence: AdditionalEducationLicence
    has_active_additional_education_licence: bool
    version: int
    registered_at: datetime
    updated_at: datetime


class OrganizationsPublic(BaseModel):
    items: list[OrganizationRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class UnlicensedPartyPublic(Row):
    agreement_id: UUID
    number: str
    title: str
    municipality: str
    version_in_force: int
    organization_id: UUID
    role: PartyRole
    name: str | None = Field(description="Null if the organisation is not in the register")
    inn: str | None
    additional_education_licence: AdditionalEducationLicence


class UnlicensedPartiesPublic(BaseModel):
    on: date = Field(description="The date the licences were checked on")
    items: list[UnlicensedPartyPublic]
    total: int
    limit: int
    offset: int
    position: int


# -- programs --------------------------------------------------------------------------


class ProviderPublic(Row):
    organization_id: UUID
    name: str | None
    role: str = Field(description="provider or partner")


class ProgramRowPublic(Row):
    program_id: UUID
    title: str
    description: str
    provider_id: UUID
    partner_ids: list[UUID]
    providers: list[ProviderPublic]
    agency: Agency
    municipality: str
    kind: ProgramKind
    direction: Direction
    min_age: int
    max_age: int
    hours: int
    capacity: int
    form: ProgramForm
    status: ProgramStatus
    approvals: int
    agreement_id: UUID | None
    active_enrolments: int
    enrolments_total: int
    free_places: int
    version: int
    drafted_at: datetime
    published_at: datetime | None
    archived_at: datetime | None
    updated_at: datetime


class ProgramsPublic(BaseModel):
    items: list[ProgramRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class ProgramGroupPublic(BaseModel):
    key: str
    programs: int
    published: int
    capacity: int
    active_enrolments: int
    free_places: int = Field(description="Places left in published programs")


class ProgramsSummaryPublic(BaseModel):
    by_direction: list[ProgramGroupPublic]
    by_agency: list[ProgramGroupPublic]
    by_form: list[ProgramGroupPublic]
    position: int


# -- agreements ------------------------------------------------------------------------


class AgreementPartyPublic(Row):
    organization_id: UUID
    name: str | None
    role: PartyRole


class AgreementProgramPublic(Row):
    program_id: UUID
    title: str | None
    status: ProgramStatus | None


class ContributionPublic(Row):
    organization_id: UUID
    name: str | None
    resource_type: ResourceType
    description: str
    volume: Decimal | None
    unit: str | None
    period_from: date | None
    period_to: date | None


class AgreementRowPublic(Row):
    agreement_id: UUID
    number: str
    title: str
    municipality: str
    status: AgreementStatus
    in_force: bool
    version_in_force: int | None = Field(
        description="The version in force (after termination or expiry: the last one)"
    )
    latest_version: int
    terms_version: int = Field(
        description="The version whose terms are shown: in force, else the latest"
    )
    model: NetworkModel | None
    term_start: date | None
    term_end: date | None
    amendments: int
    activated_at: datetime | None
    terminated_on: date | None
    expired_on: date | None
    parties: list[AgreementPartyPublic]
    programs: list[AgreementProgramPublic]
    contributions: list[ContributionPublic]
    version: int
    drafted_at: datetime
    updated_at: datetime


class AgreementsPublic(BaseModel):
    items: list[AgreementRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class ExpiringAgreementPublic(AgreementRowPublic):
    days_left: int = Field(description="Days from `on` to the term end; negative: overdue")


class ExpiringPublic(BaseModel):
    on: date
    within_days: int
    items: list[ExpiringAgreementPublic]
    total: int
    limit: int
    offset: int
    position: int


class VolumePublic(BaseModel):
    unit: str | None
    contributions: int
    volume: Decimal


class ResourceTypeTotalPublic(Row):
    resource_type: ResourceType
    contributions: int
    agreements: int
    organizations: int
    volumes: list[VolumePublic] = Field(description="Summed per unit: units never mix")


class ContributionsPublic(BaseModel):
    items: list[ResourceTypeTotalPublic]
    total: int = Field(description="Resource types with contributions")
    limit: int
    offset: int
    position: int


# -- the public catalogue ----------------------------------------------------------------


class CatalogueAgreementPublic(BaseModel):
    agreement_id: UUID
    number: str
    title: str
    term_start: date | None
    term_end: date | None


class CatalogueProgramPublic(Row):
    program_id: UUID
    title: str
    description: str
    kind: ProgramKind
    direction: Direction
    form: ProgramForm
    agency: Agency
    municipality: str
    min_age: int
    max_age: int
    hours: int
    capacity: int
    free_places: int
    providers: list[ProviderPublic]
    agreement: CatalogueAgreementPublic | None = Field(
        description="The network agreement a network program is taught under"
    )


class CataloguePublic(BaseModel):
    items: list[CatalogueProgramPublic]
    total: int
    limit: int
    offset: int
    position: int


# -- coverage ----------------------------------------------------------------------------


class TerritoryCoveragePublic(BaseModel):
    municipality: str
    territory: str
    population: int | None = Field(description="Children aged 5-17; null: none recorded")
    children: int
    enrolments: int
    coverage_pct: Decimal | None


class SliceCoveragePublic(BaseModel):
    key: str
    children: int
    enrolments: int
    coverage_pct: Decimal | None = Field(
        description="Unique children of the slice in percent of the whole population in scope"
    )
    enrolments_per_child: Decimal | None


class CoveragePublic(BaseModel):
    year: int
    municipality: str | None
    population: int = Field(description="Children aged 5-17 of the territories in scope")
    territories: int = Field(description="Territories with a figure for the year")
    children: int = Field(description="Unique children aged 5-17 enrolled during the year")
    children_without_population: int = Field(
        description="Of them, children whose territory has no figure for the year"
    )
    enrolments: int
    coverage_pct: Decimal | None
    enrolments_per_child: Decimal | None
    by_territory: list[TerritoryCoveragePublic]
    by_agency: list[SliceCoveragePublic]
    by_direction: list[SliceCoveragePublic]
    by_funding_source: list[SliceCoveragePublic]
    position: int
