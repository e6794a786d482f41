"""Pydantic schemas at the edge: ``XCreate`` in, ``XPublic`` out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.project import DeliverableState, ProjectStatus, Stage, StageStatus
from domain.values import Agency, Mechanism, OrganizationKind, TargetDimension

Text = Field(min_length=1, max_length=300)
LongText = Field(min_length=1, max_length=4000)


def _has_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` holds NUL (nested models check themselves)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Strict(BaseModel):
    """Base of every request body: unknown fields refused, strings stripped, no NUL.

    PostgreSQL text cannot hold NUL (0x00): an event carrying one is stored (JSON escapes
    it) but stops the projections that copy it into a text column, so it is refused here,
    at the edge, with a 422 on the field.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def no_nul_character(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain the NUL character (\\u0000)")
        return value


class OrganizationIn(Strict):
    name: str = Field(min_length=1, max_length=300)
    kind: OrganizationKind
    agency: Agency | None = None
    organization_id: UUID | None = Field(
        default=None, description="Its entry in the network register; must be registered"
    )


class TargetIn(Strict):
    dimension: TargetDimension
    name: str = Field(min_length=1, max_length=300)
    target_value: float
    unit: str = Field(min_length=1, max_length=50)
    baseline: float | None = None


class ProjectCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Сетевая программа «Инженерные каникулы»",
                    "goal": "Raise coverage of technical programs for children aged 10-14",
                    "municipality": "Severny district",
                    "lead_agency": "education",
                    "agencies": ["education", "culture", "sport"],
                    "organizations": [
                        {"name": "School No. 5", "kind": "general_education", "agency": "education"}
                    ],
                    "strategic_priorities": ["technical creativity"],
                    "targets": [
                        {
                            "dimension": "coverage",
                            "name": "children aged 5-17 covered",
                            "target_value": 80,
                            "unit": "%",
                            "baseline": 71.5,
                        }
                    ],
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=300)
    goal: str = Field(min_length=1, max_length=4000)
    municipality: str = Field(min_length=1, max_length=200)
    lead_agency: Agency
    agencies: list[Agency] = Field(min_length=2, max_length=20)
    organizations: list[OrganizationIn] = Field(default_factory=list, max_length=200)
    strategic_priorities: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    targets: list[TargetIn] = Field(default_factory=list, max_length=50)


class DeliverableCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stage": "social_ties_program",
                    "title": "Program for expanding social ties, approved by the three agencies",
                    "mechanism": "strategic_priorities",
                    "mandatory": True,
                    "due_date": "2027-03-01",
                }
            ]
        }
    )

    stage: Stage
    title: str = Field(min_length=1, max_length=300)
    mechanism: Mechanism
    mandatory: bool = True
    due_date: date | None = None


class DeliverableSubmit(Strict):
    document_ref: str | None = Field(default=None, max_length=300)


class Why(Strict):
    """The why of a command: recorded on its event."""

    reason: str | None = Field(default=None, max_length=4000)
    decision_ref: str | None = Field(default=None, max_length=300)
    basis_document: str | None = Field(default=None, max_length=300)
    decision_id: UUID | None = Field(
        default=None,
        description="A working-group decision that authorises this; checked: adopted, "
        "in a signed protocol, in force, its group covering the project",
    )


class ReasonRequired(Strict):
    reason: str = Field(min_length=1, max_length=4000)


class GateDecision(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reason": "All mandatory deliverables of the stage are approved",
                    "decision_ref": "WG-2027/04 item 2",
                    "basis_document": "Order No. 112 of 2027-04-12",
                }
            ]
        }
    )

    reason: str = Field(min_length=1, max_length=4000)
    decision_ref: str | None = Field(default=None, max_length=300)
    basis_document: str | None = Field(default=None, max_length=300)
    decision_id: UUID | None = Field(
        default=None,
        description="A working-group decision that authorises the pass (a basis by itself); "
        "checked: adopted, in a signed protocol, in force, its group covering the project",
    )


class CommandAccepted(BaseModel):
    """A write's answer: the aggregate, its new version (also the ETag), its log position."""

    id: UUID
    version: int
    position: int


class DeliverablePlanned(CommandAccepted):
    deliverable_id: UUID


class DeliverablePublic(BaseModel):
    id: UUID
    stage: Stage
    title: str
    mechanism: Mechanism
    mandatory: bool
    due_date: date | None
    state: DeliverableState
    submissions: int
    rejection_reason: str | None
    document_ref: str | None


class GateBasisPublic(BaseModel):
    decision_ref: str | None
    basis_document: str | None
    reason: str | None


class StagePublic(BaseModel):
    code: Stage
    number: int
    label_ru: str
    status: StageStatus
    entered_at: datetime | None
    left_at: datetime | None
    gate: GateBasisPublic | None
    gate_rejections: int
    deliverables: list[DeliverablePublic]


class OrganizationPublic(BaseModel):
    name: str
    kind: OrganizationKind
    agency: Agency | None
    organization_id: UUID | None = None


class TargetPublic(BaseModel):
    dimension: TargetDimension
    name: str
    target_value: float
    unit: str
    baseline: float | None


class ProjectPublic(BaseModel):
    id: UUID
    version: int
    title: str
    goal: str
    municipality: str
    lead_agency: Agency
    agencies: list[Agency]
    organizations: list[OrganizationPublic]
    strategic_priorities: list[str]
    targets: list[TargetPublic]
    status: ProjectStatus
    active_stage: Stage | None
    created_at: datetime
    modified_at: datetime
    stages: list[StagePublic]


class ProjectSummaryPublic(BaseModel):
    id: UUID
    title: str
    municipality: str
    lead_agency: Agency
    agencies: list[Agency]
    status: ProjectStatus
    active_stage: Stage | None
    stage_number: int | None
    stages_completed: int
    deliverables_total: int
    deliverables_approved: int
    gate_rejections: int
    version: int
    position: int
    initiated_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None


class ProjectsPublic(BaseModel):
    items: list[ProjectSummaryPublic]
    total: int
    limit: int
    offset: int
    position: int = Field(description="The projection's position in the event log")


class StageProgressPublic(BaseModel):
    stage: Stage
    number: int
    label_ru: str
    status: StageStatus
    entered_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    deliverables: dict[str, int]
    mandatory_approved: int
    mandatory_total: int
    percent_complete: float
    gate_rejections: int
    gate_decision_ref: str | None
    gate_basis_document: str | None


class ProgressPublic(BaseModel):
    project_id: UUID
    status: ProjectStatus
    active_stage: Stage | None
    stages: list[StageProgressPublic]
    position: int


class ActorPublic(BaseModel):
    id: str
    role: str
    agency: str | None


class HistoryEventPublic(BaseModel):
    type: str
    version: int
    position: int
    time: datetime
    actor: ActorPublic
    reason: str | None
    basis_document: str | None
    decision_ref: str | None
    correlation_id: str | None
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    aggregate_id: UUID
    events: list[HistoryEventPublic]
    next_after_version: int | None = Field(
        default=None,
        description="Pass as `after_version` for the next page; null on the last page",
    )


class ProjectionStatusPublic(BaseModel):
    name: str
    position: int
    lag_events: int


class ReadyPublic(BaseModel):
    status: str
    database: str
    head_position: int
    projections: list[ProjectionStatusPublic]


class ProblemPublic(BaseModel):
    """RFC 9457 problem details; extensions such as ``rule`` or ``errors`` may follow."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
