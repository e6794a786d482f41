"""Schemas of municipal assignments and redistributions. Volumes and money are decimals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Strict
from domain.assignment import Direction, ReportPeriod, VolumeUnit
from domain.values import Agency

Volume = Field(ge=0, max_digits=18, decimal_places=4)


class QualityIn(Strict):
    name: str = Field(min_length=1, max_length=300)
    unit: str = Field(min_length=1, max_length=50)
    planned: Decimal = Field(max_digits=18, decimal_places=4)
    allowed_deviation_pct: Decimal = Field(default=Decimal(10), ge=0, le=100)


class LineIn(Strict):
    line_id: str | None = Field(default=None, min_length=1, max_length=20)
    registry_number: str = Field(min_length=1, max_length=50)
    service_name: str = Field(min_length=1, max_length=500)
    direction: Direction | None = None
    unit: VolumeUnit
    planned: dict[int, Decimal] = Field(
        min_length=1,
        max_length=3,
        description="Volume per year: the fiscal year and up to two more",
    )
    allowed_deviation_pct: Decimal = Field(default=Decimal(10), ge=0, le=100)
    normative_cost: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    quality: list[QualityIn] = Field(default_factory=list, max_length=20)


class AssignmentCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization_id": "3f1c6a52-0d7e-4c1b-9a53-5b2f0e8d7c41",
                    "institution": "МБУ ДО «Центр детского творчества»",
                    "agency": "education",
                    "founder": "Управление образования",
                    "municipality": "Северный муниципальный район",
                    "fiscal_year": 2027,
                    "lines": [
                        {
                            "registry_number": "804200О.99.0.ББ52АЖ48000",
                            "service_name": "Реализация дополнительных общеразвивающих программ",
                            "direction": "technical",
                            "unit": "person_hours",
                            "planned": {"2027": "12000", "2028": "12500", "2029": "13000"},
                            "allowed_deviation_pct": "5",
                            "normative_cost": "148.60",
                        }
                    ],
                }
            ]
        }
    )

    organization_id: UUID = Field(description="The institution in the network register")
    institution: str = Field(min_length=1, max_length=300)
    agency: Agency
    founder: str = Field(min_length=1, max_length=300)
    municipality: str = Field(min_length=1, max_length=200)
    fiscal_year: int = Field(ge=2000, le=2100)
    lines: list[LineIn] = Field(min_length=1, max_length=50)

    def lines_as_dicts(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            d = line.model_dump(mode="json", exclude_none=True)
            d["planned"] = {str(y): str(v) for y, v in line.planned.items()}
            out.append(d)
        return out


class Approve(Strict):
    basis_document: str = Field(min_length=1, max_length=300)


class ChangeIn(Strict):
    line_id: str = Field(min_length=1, max_length=20)
    year: int = Field(ge=2000, le=2102)
    planned: Decimal = Field(ge=0, max_digits=18, decimal_places=4)


class Amend(Strict):
    changes: list[ChangeIn] = Field(min_length=1, max_length=150)
    reason: str = Field(min_length=1, max_length=4000)
    basis_document: str = Field(min_length=1, max_length=300)


# A report's key: a line id, or "line_id:indicator name" (a name has up to 300 characters).
ReportKey = Annotated[str, Field(min_length=1, max_length=400)]


class ReportIn(Strict):
    period: ReportPeriod
    actual: dict[ReportKey, Decimal] = Field(
        min_length=1,
        max_length=200,
        description='Actual value per line id, and per "line_id:indicator" for quality',
    )
    reasons: dict[ReportKey, Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=dict, max_length=200
    )


class ReturnReport(Strict):
    reason: str = Field(min_length=1, max_length=4000)


class LegIn(Strict):
    assignment_id: UUID
    delta: Decimal = Field(
        max_digits=18, decimal_places=4, description="Negative: volume leaves; positive: enters"
    )


class RedistributionCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "registry_number": "804200О.99.0.ББ52АЖ48000",
                    "unit": "person_hours",
                    "year": 2027,
                    "legs": [
                        {"assignment_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "delta": "-500"},
                        {"assignment_id": "3fa85f64-5717-4562-b3fc-2c963f66afa7", "delta": "500"},
                    ],
                    "budget_basis": "Решение о перераспределении бюджетных ассигнований № 45",
                    "reason": "Недовыполнение за I полугодие",
                }
            ]
        }
    )

    registry_number: str = Field(min_length=1, max_length=50)
    unit: VolumeUnit
    year: int = Field(ge=2000, le=2102)
    legs: list[LegIn] = Field(min_length=2, max_length=100)
    budget_basis: str | None = Field(default=None, max_length=300)
    decision_id: UUID | None = None
    reason: str | None = Field(default=None, max_length=4000)


class CreatedWithId(BaseModel):
    id: UUID
    version: int
    position: int
    created_id: UUID


class LinePublic(BaseModel):
    line_id: str
    registry_number: str
    service_name: str
    direction: Direction | None
    unit: VolumeUnit
    planned: dict[int, Decimal]
    allowed_deviation_pct: Decimal
    normative_cost: Decimal
    subsidy: dict[int, Decimal]


class ReportPublic(BaseModel):
    report_id: UUID
    period: ReportPeriod
    actual: dict[str, Decimal]
    deviation: dict[str, Decimal]
    beyond_tolerance: list[str]
    reasons: dict[str, str]
    status: str


class AssignmentPublic(BaseModel):
    id: UUID
    version: int
    organization_id: str
    institution: str
    agency: Agency
    founder: str
    municipality: str
    fiscal_year: int
    status: str
    amendments: int
    lines: list[LinePublic]
    reports: list[ReportPublic]


class RegisterRowPublic(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignment_id: UUID
    organization_id: str
    institution: str
    agency: Agency
    founder: str
    municipality: str
    fiscal_year: int
    status: str
    amendments: int
    line_id: str
    registry_number: str
    service_name: str
    direction: Direction | None
    unit: VolumeUnit
    normative_cost: Decimal
    allowed_deviation_pct: Decimal
    planned_initial: Decimal
    planned: Decimal
    planned_next: Decimal | None
    planned_after_next: Decimal | None
    report_period: ReportPeriod | None
    planned_due: Decimal | None
    actual: Decimal | None
    deviation_pct: Decimal | None
    beyond_tolerance: bool
    subsidy: Decimal


class RegisterPublic(BaseModel):
    items: list[RegisterRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class OutsideTolerancePublic(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignment_id: UUID
    institution: str
    agency: Agency
    founder: str
    fiscal_year: int
    line_id: str
    registry_number: str
    unit: VolumeUnit
    report_period: ReportPeriod | None
    planned_due: Decimal | None
    actual: Decimal | None
    deviation_pct: Decimal | None
    allowed_deviation_pct: Decimal
    subsidy_at_risk: Decimal


class DashboardPublic(BaseModel):
    items: list[OutsideTolerancePublic]
    subsidy_at_risk: Decimal = Field(description="Summed over all `total` lines, not the page")
    total: int
    limit: int
    offset: int
    position: int


class LegPublic(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assignment_id: UUID
    institution: str
    founder: str
    agency: Agency
    delta: Decimal
    normative_cost: Decimal
    subsidy_delta: Decimal


class RedistributionPublic(BaseModel):
    model_config = ConfigDict(extra="ignore")

    redistribution_id: UUID
    year: int
    registry_number: str
    unit: VolumeUnit
    volume_moved: Decimal
    budget_basis: str | None
    decision_id: UUID | None
    cross_founder: bool
    recorded_by: str
    reason: str | None
    recorded_at: datetime
    legs: list[LegPublic]


class RedistributionsPublic(BaseModel):
    items: list[RedistributionPublic]
    total: int
    limit: int
    offset: int
    position: int
