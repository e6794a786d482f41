"""Schemas of network agreements: versioned terms, signatures, termination.

Rules that need the domain (two distinct parties, contributions by parties, within the
term) are left to it, so a broken rule answers 409 with its name rather than a 422 here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import CommandAccepted, Strict
from domain.agreement import (
    MAX_CLAUSE_TEXT,
    MAX_CONTRIBUTIONS,
    MAX_PARTIES,
    MAX_PROGRAMS,
    AgreementStatus,
    Clause,
    NetworkModel,
    PartyRole,
    ResourceType,
    VersionState,
)

ClauseText = Annotated[str, Field(min_length=1, max_length=MAX_CLAUSE_TEXT)]

_EXAMPLE_TERMS: dict[str, Any] = {
    "parties": [
        {"organization_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "role": "base"},
        {"organization_id": "3fa85f64-5717-4562-b3fc-2c963f66afa7", "role": "participant"},
        {"organization_id": "3fa85f64-5717-4562-b3fc-2c963f66afa8", "role": "resource"},
    ],
    "model": "model_2",
    "program_ids": ["3fa85f64-5717-4562-b3fc-2c963f66afa9"],
    "contributions": [
        {
            "organization_id": "3fa85f64-5717-4562-b3fc-2c963f66afa8",
            "resource_type": "infrastructure",
            "description": "Лаборатория робототехники с оборудованием",
            "volume": "144",
            "unit": "часов",
            "period_from": "2027-09-01",
            "period_to": "2028-05-31",
        }
    ],
    "clauses": {
        "program_and_direction": "Дополнительная общеразвивающая программа «Робототехника», "
        "техническая направленность",
        "students_status_and_admission": "Обучающиеся зачисляются в базовую организацию",
        "duties_and_resources": "Участник ведёт модуль 2; ресурсная организация - лабораторию",
        "documents_issued": "Сертификат выдаёт базовая организация",
        "term_and_change": "С 01.09.2027 по 30.06.2028; изменения - дополнительным соглашением",
    },
    "term_start": "2027-09-01",
    "term_end": "2028-06-30",
}


class PartyIn(Strict):
    organization_id: UUID
    role: PartyRole


class ContributionIn(Strict):
    organization_id: UUID = Field(description="A party of the agreement")
    resource_type: ResourceType
    description: str = Field(min_length=1, max_length=1000)
    volume: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    unit: str = Field(min_length=1, max_length=50)
    period_from: date
    period_to: date


class TermsIn(Strict):
    """One version of the terms: parties, model, programs, resources, clauses, term."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_TERMS]})

    parties: list[PartyIn] = Field(max_length=MAX_PARTIES)
    model: NetworkModel
    program_ids: list[UUID] = Field(min_length=1, max_length=MAX_PROGRAMS)
    contributions: list[ContributionIn] = Field(default_factory=list, max_length=MAX_CONTRIBUTIONS)
    clauses: dict[Clause, ClauseText] = Field(
        default_factory=dict,
        max_length=len(Clause),
        description="The five clauses of 273-FZ art. 15; all are needed to sign or activate",
    )
    term_start: date
    term_end: date

    def as_dict(self) -> dict[str, Any]:
        """The terms as the domain takes them: ids and dates as text, volumes exact."""
        d: dict[str, Any] = self.model_dump(mode="json")
        for c, raw in zip(d["contributions"], self.contributions, strict=True):
            c["volume"] = str(raw.volume)
        return d


class AgreementCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "СВ-12/2027",
                    "title": "Договор о сетевой форме реализации программы «Робототехника»",
                    "municipality": "Северный муниципальный район",
                    "terms": _EXAMPLE_TERMS,
                }
            ]
        }
    )

    number: str = Field(min_length=1, max_length=50)
    title: str = Field(min_length=1, max_length=300)
    municipality: str = Field(min_length=1, max_length=200)
    terms: TermsIn


class SignatureIn(Strict):
    party_id: UUID = Field(description="The organisation that signs (a party of the version)")
    signatory: str = Field(
        min_length=1, max_length=300, description="Who signed for it: name and position"
    )
    signed_on: date
    version: int | None = Field(
        default=None,
        ge=1,
        description="The version the party read and signs; refused if it is not the one "
        "awaiting signatures",
    )


class AgreementWhy(Strict):
    reason: str | None = Field(default=None, max_length=4000)
    basis_document: str | None = Field(default=None, max_length=300)


class AmendmentIn(Strict):
    terms: TermsIn
    reason: str = Field(min_length=1, max_length=4000)
    basis_document: str | None = Field(default=None, max_length=300)


class TerminationIn(Strict):
    reason: str = Field(min_length=1, max_length=4000)
    terminated_on: date
    basis_document: str | None = Field(default=None, max_length=300)


class AmendmentProposed(CommandAccepted):
    agreement_version: int = Field(description="The number of the proposed version of terms")


class PartyPublic(BaseModel):
    organization_id: UUID
    role: PartyRole


class ContributionPublic(BaseModel):
    organization_id: UUID
    resource_type: ResourceType
    description: str
    volume: Decimal
    unit: str
    period_from: date
    period_to: date


class TermsPublic(BaseModel):
    parties: list[PartyPublic]
    model: NetworkModel
    program_ids: list[UUID]
    contributions: list[ContributionPublic]
    clauses: dict[Clause, str]
    term_start: date
    term_end: date


class SignaturePublic(BaseModel):
    party_id: UUID
    signatory: str
    signed_on: date


class AgreementVersionPublic(BaseModel):
    number: int
    state: VersionState
    based_on: int | None = Field(description="The version in force this one amends")
    terms: TermsPublic
    signatures: list[SignaturePublic]
    unsigned_parties: list[UUID] = Field(description="Who must still sign this version")
    missing_clauses: list[Clause]


class AgreementPublic(BaseModel):
    id: UUID
    version: int = Field(description="The aggregate's version (the ETag), not a terms version")
    number: str
    title: str
    municipality: str
    status: AgreementStatus
    in_force_version: int | None
    pending_version: int | None
    terminated_on: date | None
    expired_on: date | None
    created_at: datetime
    modified_at: datetime
    versions: list[AgreementVersionPublic]
