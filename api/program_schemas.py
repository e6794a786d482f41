"""Schemas of programs, enrolments and territories' child population.

A child is known by a pseudonymous id and birth year only; the program's public state shows
counts of enrolments, never child ids.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import CommandAccepted, Strict
from domain.assignment import Direction
from domain.program import (
    LAST_YEAR,
    MAX_AGE,
    MAX_CAPACITY,
    MAX_HOURS,
    MAX_PARTNERS,
    MIN_AGE,
    MIN_BIRTH_YEAR,
    FundingSource,
    ProgramForm,
    ProgramKind,
    ProgramStatus,
)
from domain.values import Agency


class ProgramCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Робототехника: первые шаги",
                    "description": "Сетевая программа технической направленности: "
                    "конструирование и программирование роботов",
                    "provider_id": "6f1c1e8e-7f4b-4f51-9a55-3a2f6c1d9b10",
                    "partner_ids": ["0b7d5d7e-2c8e-4a0f-8f5c-1d2e3f4a5b6c"],
                    "kind": "general_developing",
                    "direction": "technical",
                    "min_age": 10,
                    "max_age": 14,
                    "hours": 144,
                    "capacity": 30,
                    "form": "network",
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=4000)
    provider_id: UUID = Field(
        description="A registered organisation: its agency and municipality become the program's"
    )
    partner_ids: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_PARTNERS,
        description="Registered organisations teaching part of a network program",
    )
    kind: ProgramKind
    direction: Direction | None = Field(
        default=None,
        description="Required for a general-developing program; a pre-professional arts "
        "program is artistic, a sport-training one physical_culture_sport",
    )
    min_age: int = Field(ge=MIN_AGE, le=MAX_AGE)
    max_age: int = Field(ge=MIN_AGE, le=MAX_AGE)
    hours: int = Field(ge=1, le=MAX_HOURS)
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    form: ProgramForm


class ApprovalIn(Strict):
    party_id: UUID = Field(description="The approving teaching party: provider or partner")
    reason: str | None = Field(default=None, max_length=4000)
    basis_document: str | None = Field(default=None, max_length=300)


class PublishIn(Strict):
    agreement_id: UUID | None = Field(
        default=None,
        description="Required for a network program: an agreement in force that lists it",
    )
    reason: str | None = Field(default=None, max_length=4000)


class ArchiveIn(Strict):
    reason: str | None = Field(default=None, max_length=4000)
    basis_document: str | None = Field(default=None, max_length=300)


class CapacityIn(Strict):
    capacity: int = Field(ge=1, le=MAX_CAPACITY)
    reason: str | None = Field(default=None, max_length=4000)
    basis_document: str | None = Field(default=None, max_length=300)


class EnrolmentCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "child_id": "nav-7f3a9c21",
                    "birth_year": 2015,
                    "territory": "микрорайон Северный",
                    "funding_source": "certificate",
                    "start_date": "2027-09-01",
                    "end_date": "2028-05-31",
                }
            ]
        }
    )

    child_id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{6,64}$",
        description="A pseudonymous id of the child (e.g. from the navigator), never a name",
    )
    birth_year: int = Field(ge=MIN_BIRTH_YEAR, le=LAST_YEAR)
    territory: str = Field(min_length=1, max_length=200)
    funding_source: FundingSource
    start_date: date
    end_date: date | None = Field(default=None, description="The planned end, if known")


class EnrolmentEnd(Strict):
    end_date: date
    reason: str | None = Field(default=None, max_length=4000)


class EnrolmentCreated(CommandAccepted):
    enrolment_id: UUID


class PopulationIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "municipality": "Северный муниципальный район",
                    "territory": "микрорайон Северный",
                    "year": 2027,
                    "children_5_17": 4210,
                    "source": "Росстат, оценка численности на 1 января",
                }
            ]
        }
    )

    municipality: str = Field(min_length=1, max_length=200)
    territory: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    children_5_17: int = Field(ge=0, le=10_000_000)
    source: str = Field(min_length=1, max_length=300)
    reason: str | None = Field(default=None, max_length=4000)


class EnrolmentCountsPublic(BaseModel):
    active: int
    ended: int
    total: int


class ProgramPublic(BaseModel):
    id: UUID
    version: int
    title: str
    description: str
    provider_id: UUID
    partner_ids: list[UUID]
    agency: Agency
    municipality: str
    kind: ProgramKind
    direction: Direction
    min_age: int
    max_age: int
    hours: int
    capacity: int
    places_left: int
    form: ProgramForm
    status: ProgramStatus
    approved_by: list[UUID]
    awaiting_approval: list[UUID]
    agreement_id: UUID | None
    enrolments: EnrolmentCountsPublic
    created_at: datetime
    modified_at: datetime
