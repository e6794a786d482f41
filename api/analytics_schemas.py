"""Schemas of the Analyst API (``/api/v1/analytics``): one row model per table.

Out only. Each row model's fields are the table's columns, in the order of its CSV
export (``projections.analytics.TABLES``). Codes (stages, agencies, mechanisms, ...) are
plain strings here, as in the CSV; docs/analytics.md lists them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class TableFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TablePage(BaseModel):
    """A page of one table; ``?format=csv`` streams every row instead."""

    table: str = Field(description="The table's name (its CSV file is named after it)")
    columns: list[str] = Field(description="The columns, in the order of the CSV export")
    total: int = Field(description="Rows in the whole table with these filters")
    limit: int
    offset: int
    position: int = Field(description="The projection's position the figures are read at")


# -- projects ------------------------------------------------------------------------------


class ProjectsByStageRow(Row):
    stage: str | None = Field(description="The active stage; null once completed or cancelled")
    stage_number: int | None
    status: str = Field(description="active, suspended, completed or cancelled")
    agency: str | None = Field(description="An agency taking part; null: all agencies")
    projects: int
    lead_projects: int = Field(description="Of those, the projects this agency leads")
    deliverables_total: int
    deliverables_approved: int


class ProjectsByStagePublic(TablePage):
    items: list[ProjectsByStageRow]


class StageDurationRow(Row):
    stage: str
    stage_number: int
    projects_entered: int = Field(description="Projects that entered the stage")
    completed: int = Field(description="Of those, the stage's gate passed")
    active: int = Field(description="Of those, the stage is the active one now")
    with_plan: int = Field(description="Entered stages with at least one dated deliverable")
    planned_days_mean: Decimal | None = Field(description="Planned days (due dates), mean")
    planned_days_median: Decimal | None
    actual_days_mean: Decimal | None = Field(description="Days in the stage, completed ones")
    actual_days_median: Decimal | None
    overrun_days_mean: Decimal | None = Field(
        description="Completed stages with a plan: days finished after the planned end"
    )
    overrun_days_median: Decimal | None
    completed_late: int
    active_overdue: int = Field(description="Active stages already past their planned end")


class StageDurationsPublic(TablePage):
    items: list[StageDurationRow]


class StageDurationProjectRow(Row):
    project_id: UUID
    title: str
    municipality: str
    lead_agency: str
    stage: str
    stage_number: int
    status: str = Field(description="active, completed or cancelled")
    entered_on: date = Field(description="Local date the stage became active")
    left_on: date | None = Field(description="Local date its gate passed or it was cancelled")
    planned_end: date | None = Field(description="The latest due date of its deliverables")
    planned_days: int | None = Field(description="planned_end - entered_on")
    actual_days: int = Field(description="(left_on, or today) - entered_on")
    overrun_days: int | None = Field(description="(left_on, or today) - planned_end")


class StageDurationProjectsPublic(TablePage):
    items: list[StageDurationProjectRow]


class DeliverablesByMechanismRow(Row):
    mechanism: str
    deliverables: int
    projects: int = Field(description="Projects with at least one such deliverable")
    mandatory: int
    planned: int
    submitted: int
    approved: int
    rejected: int
    overdue: int = Field(description="Not approved, due before today, project not closed")
    approved_pct: Decimal | None


class DeliverablesByMechanismPublic(TablePage):
    items: list[DeliverablesByMechanismRow]


# -- working groups ----------------------------------------------------------------------


class WorkingGroupRow(Row):
    group_id: UUID
    name: str
    kind: str
    municipality: str
    project_id: UUID | None
    status: str
    members: int = Field(description="Current members (a count: no names)")
    voting_members: int
    meetings: int
    meetings_with_attendance: int
    meetings_quorate: int
    protocols_signed: int
    attendance_rate_mean: Decimal | None = Field(
        description="Mean attendance rate of the meetings with attendance, percent"
    )
    motions: int
    motions_adopted: int
    decisions: int
    decisions_in_force: int
    action_items: int
    action_items_done: int
    action_items_done_on_time: int
    action_items_overdue: int
    completion_pct: Decimal | None = Field(description="100 x done / action items")


class WorkingGroupsPublic(TablePage):
    items: list[WorkingGroupRow]


# -- municipal assignments ---------------------------------------------------------------


class AssignmentExecutionRow(Row):
    fiscal_year: int
    agency: str
    direction: str | None
    unit: str = Field(description="person_hours or students: volumes of one unit only")
    report_period: str | None = Field(description="Latest period reported; null: none yet")
    assignments: int
    lines: int
    planned_initial: Decimal
    planned: Decimal
    planned_due: Decimal | None
    actual: Decimal | None
    deviation_pct: Decimal | None
    lines_beyond_tolerance: int
    subsidy: Decimal = Field(description="Roubles: planned x normative cost")
    subsidy_at_risk: Decimal = Field(description="Roubles, lines beyond tolerance")


class AssignmentExecutionPublic(TablePage):
    items: list[AssignmentExecutionRow]


class OutsideToleranceRow(Row):
    assignment_id: UUID
    organization_id: str
    institution: str
    agency: str
    founder: str
    municipality: str
    fiscal_year: int
    line_id: str
    registry_number: str
    service_name: str
    direction: str | None
    unit: str
    report_period: str | None
    planned_due: Decimal | None
    actual: Decimal | None
    deviation_pct: Decimal | None
    allowed_deviation_pct: Decimal
    subsidy_at_risk: Decimal


class OutsideTolerancePublic(TablePage):
    items: list[OutsideToleranceRow]


# -- the network and coverage ------------------------------------------------------------


class NetworkProgramsRow(Row):
    agency: str
    direction: str
    form: str
    programs: int
    draft: int
    approved: int
    published: int
    archived: int
    in_catalogue: int = Field(description="Offered to families in the public catalogue")
    under_agreement_in_force: int
    capacity: int = Field(description="Places of the published programs")
    active_enrolments: int
    places_left: int
    enrolments_total: int


class NetworkProgramsPublic(TablePage):
    items: list[NetworkProgramsRow]


class CoverageRow(Row):
    year: int
    municipality: str
    slice: str = Field(description="total, agency, direction or funding_source")
    key: str | None = Field(description="The slice's value; null for the total")
    population: int | None = Field(description="Children aged 5-17 living there that year")
    children: int = Field(description="Unique children aged 5-17 enrolled that year")
    enrolments: int
    coverage_pct: Decimal | None
    enrolments_per_child: Decimal | None


class CoveragePublic(TablePage):
    items: list[CoverageRow]
