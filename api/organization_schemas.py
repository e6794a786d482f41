"""Schemas of the network register: organisations and their licence entries."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import CommandAccepted, Strict
from domain.organization import LicenceStatus, LicenceSubKind, NameChange, ReorganizationForm
from domain.values import Agency, OrganizationKind


class Basis(Strict):
    """The why of a register change: recorded on its event."""

    reason: str | None = Field(default=None, max_length=4000)
    basis_document: str | None = Field(
        default=None, max_length=300, description="e.g. the order or register entry behind it"
    )


class OrganizationCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "МБУ ДО «Центр детского творчества»",
                    "inn": "2465123457",
                    "kind": "additional_education",
                    "agency": "education",
                    "founder": "Управление образования администрации района",
                    "municipality": "Северный муниципальный район",
                    "address": "рп Северный, ул. Центральная, 12",
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=500)
    inn: str = Field(
        min_length=10,
        max_length=12,
        description="10 digits (legal entity) or 12 (individual), with valid check digits",
    )
    kind: OrganizationKind
    agency: Agency
    founder: str = Field(min_length=1, max_length=500)
    municipality: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=500)


class OrganizationRename(Basis):
    name: str = Field(min_length=1, max_length=500)


class OrganizationReorganize(Basis):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "form": "transformation",
                    "effective_on": "2027-09-01",
                    "name": "МАУ ДО «Центр детского творчества»",
                    "basis_document": "Постановление администрации № 310",
                }
            ]
        }
    )

    form: ReorganizationForm
    effective_on: date
    name: str | None = Field(default=None, min_length=1, max_length=500)
    kind: OrganizationKind | None = None
    agency: Agency | None = None
    founder: str | None = Field(default=None, min_length=1, max_length=500)
    address: str | None = Field(default=None, min_length=1, max_length=500)


class LicenceCreate(Basis):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "Л035-01234-24/00123456",
                    "sub_kinds": ["additional_education_children_adults"],
                    "issued_on": "2022-03-15",
                    "issuer": "Министерство образования края",
                }
            ]
        }
    )

    number: str = Field(min_length=1, max_length=100)
    sub_kinds: list[LicenceSubKind] = Field(min_length=1, max_length=len(LicenceSubKind))
    issued_on: date
    issuer: str = Field(min_length=1, max_length=500)


class LicenceStatusChange(Basis):
    effective_on: date


class LicenceCreated(CommandAccepted):
    licence_id: UUID


class LicenceEntryPublic(BaseModel):
    licence_id: UUID
    number: str
    sub_kinds: list[LicenceSubKind]
    issued_on: date
    issuer: str
    status: LicenceStatus
    status_since: date


class NameRecordPublic(BaseModel):
    name: str
    since: date
    via: NameChange


class ReorganizationPublic(BaseModel):
    form: ReorganizationForm
    effective_on: date


class RegisteredOrganizationPublic(BaseModel):
    """An organisation as it is now, from its events; ``version`` is also the ETag."""

    id: UUID
    version: int
    name: str
    inn: str
    kind: OrganizationKind
    agency: Agency
    founder: str
    municipality: str
    address: str
    is_educational: bool
    licensed_for_additional_education: bool = Field(
        description="An active licence with sub-kind additional_education_children_adults, "
        "issued on or before the date asked (today unless `on` is given)"
    )
    licences: list[LicenceEntryPublic]
    names: list[NameRecordPublic]
    reorganizations: list[ReorganizationPublic]
    created_at: datetime
    modified_at: datetime
