"""Schemas of working groups, meetings, decisions and action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas import Strict
from domain.project import Stage
from domain.values import Agency, Mechanism
from domain.working_group import GroupKind, MajorityRule, Position, TargetKind, VoteChoice


class QuorumIn(Strict):
    """Share of the current voting members who must be present: more than (or at least) n/d."""

    numerator: int = Field(default=1, ge=1, le=100)
    denominator: int = Field(default=2, ge=1, le=100)
    strict: bool = Field(default=True, description="true: more than n/d; false: at least n/d")

    @model_validator(mode="after")
    def _fraction(self) -> Self:
        if self.numerator > self.denominator:
            msg = "quorum numerator must not exceed the denominator"
            raise ValueError(msg)
        return self


class GroupCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "interagency",
                    "name": "Межведомственная рабочая группа по дополнительному образованию",
                    "basis_act": "Постановление администрации № 215 от 10.01.2027",
                    "municipality": "Северный муниципальный район",
                    "quorum": {"numerator": 1, "denominator": 2, "strict": True},
                    "majority_rule": "simple",
                }
            ]
        }
    )

    kind: GroupKind
    name: str = Field(min_length=1, max_length=300)
    basis_act: str = Field(min_length=1, max_length=300)
    municipality: str = Field(min_length=1, max_length=200)
    project_id: UUID | None = Field(
        default=None, description="Scope: the one project this group serves (else its municipality)"
    )
    quorum: QuorumIn = Field(default_factory=QuorumIn)
    majority_rule: MajorityRule = MajorityRule.SIMPLE


class MemberCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "person": "Иванова Мария Петровна",
                    "organization": "Управление образования",
                    "agency": "education",
                    "position": "chair",
                    "voting": True,
                    "appointed_on": "2027-01-15",
                }
            ]
        }
    )

    person: str = Field(min_length=1, max_length=300)
    organization: str = Field(min_length=1, max_length=300)
    organization_id: UUID | None = Field(
        default=None, description="The organisation's entry in the network register, if any"
    )
    agency: Agency
    position: Position = Position.MEMBER
    voting: bool = True
    appointed_on: date


class MemberDismiss(Strict):
    dismissed_on: date
    reason: str = Field(min_length=1, max_length=4000)


class MeetingCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "held_on": "2027-02-03",
                    "agenda": ["Программа расширения социальных связей: утверждение"],
                }
            ]
        }
    )

    held_on: date
    agenda: list[Annotated[str, Field(max_length=500)]] = Field(min_length=1, max_length=50)


class AttendanceIn(Strict):
    present: list[UUID] = Field(max_length=500, description="Member ids of those present")


class MotionIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agenda_item": "1",
                    "text": "Утвердить программу и перейти ко второму этапу",
                    "votes": {"3fa85f64-5717-4562-b3fc-2c963f66afa6": "for"},
                }
            ]
        }
    )

    agenda_item: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1, max_length=4000)
    votes: dict[UUID, VoteChoice] = Field(max_length=500)


class TargetIn(Strict):
    kind: TargetKind
    project_id: UUID | None = None
    stage: Stage | None = None
    deliverable_id: UUID | None = None
    redistribution_ref: str | None = Field(default=None, max_length=300)


class DecisionCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "protocol_number": "3",
                    "text": "Признать этап 1 выполненным; перейти к этапу 2",
                    "motion_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "mechanism": "working_groups",
                    "targets": [
                        {
                            "kind": "project_gate",
                            "project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa7",
                            "stage": "social_ties_program",
                        }
                    ],
                }
            ]
        }
    )

    protocol_number: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=8000)
    motion_id: UUID
    mechanism: Mechanism
    targets: list[TargetIn] = Field(default_factory=list, max_length=50)
    corrects: UUID | None = Field(default=None, description="The decision this one corrects")


class ProtocolSign(Strict):
    protocol_number: str = Field(min_length=1, max_length=100)


class ActionItemCreate(Strict):
    description: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=300)
    deadline: date
    decision_id: UUID | None = None


class ActionItemComplete(Strict):
    done_on: date


class GroupDissolve(Strict):
    reason: str = Field(min_length=1, max_length=4000)


class Created(BaseModel):
    """A write that created something inside a group answers its id too."""

    id: UUID
    version: int
    position: int
    created_id: UUID


class MotionVotedPublic(BaseModel):
    id: UUID
    version: int
    position: int
    motion_id: UUID
    adopted: bool
    votes_for: int
    votes_against: int
    abstentions: int
    quorum_needed: int
    present_voting: int


class MemberPublic(BaseModel):
    id: UUID
    person: str
    organization: str
    organization_id: UUID | None = None
    agency: Agency
    position: Position
    voting: bool
    appointed_on: date
    dismissed_on: date | None


class MotionPublic(BaseModel):
    id: UUID
    agenda_item: str
    text: str
    votes: dict[UUID, VoteChoice]
    voting_members: int
    present_voting: int
    quorum_needed: int
    adopted: bool


class MeetingPublic(BaseModel):
    id: UUID
    held_on: date
    agenda: dict[str, str]
    present: list[UUID]
    attendance_recorded: bool
    protocol_number: str | None
    signed_at: datetime | None
    signed_by: list[UUID]
    motions: list[MotionPublic]
    decisions: list[UUID]


class TargetPublic(BaseModel):
    kind: TargetKind
    project_id: UUID | None
    stage: Stage | None
    deliverable_id: UUID | None
    redistribution_ref: str | None


class DecisionPublic(BaseModel):
    id: UUID
    meeting_id: UUID
    protocol_number: str
    text: str
    motion_id: UUID
    agenda_item: str
    mechanism: Mechanism
    targets: list[TargetPublic]
    corrects: UUID | None
    superseded_by: UUID | None
    adopted: bool
    recorded_at: datetime


class ActionItemPublic(BaseModel):
    id: UUID
    description: str
    owner: str
    deadline: date
    decision_id: UUID | None
    done_on: date | None


class GroupPublic(BaseModel):
    id: UUID
    version: int
    kind: GroupKind
    name: str
    basis_act: str
    municipality: str
    project_id: UUID | None
    quorum: str
    majority_rule: MajorityRule
    status: str
    members: list[MemberPublic]
    meetings: list[MeetingPublic]
    decisions: list[DecisionPublic]
    action_items: list[ActionItemPublic]


# -- projections ---------------------------------------------------------------------------


class GroupSummaryPublic(BaseModel):
    id: UUID
    kind: GroupKind
    name: str
    municipality: str
    project_id: UUID | None
    quorum: str
    majority_rule: MajorityRule
    status: str
    version: int
    established_at: datetime
    dissolved_at: datetime | None


class GroupsPublic(BaseModel):
    items: list[GroupSummaryPublic]
    total: int
    limit: int
    offset: int
    position: int


class RosterPublic(BaseModel):
    group_id: UUID
    members: list[MemberPublic]
    by_agency: dict[str, int]
    by_position: dict[str, int]
    position: int


class MeetingStatsPublic(BaseModel):
    meeting_id: UUID
    held_on: date
    agenda: list[dict[str, str]]
    members_total: int | None
    voting_members: int | None
    present: int | None
    present_voting: int | None
    quorum_needed: int | None
    quorum_met: bool | None
    attendance_rate: float | None
    protocol_number: str | None
    signed_at: datetime | None
    motions: int
    decisions: int


class MeetingsPublic(BaseModel):
    group_id: UUID
    meetings: list[MeetingStatsPublic]
    position: int


class DecisionRowPublic(BaseModel):
    decision_id: UUID
    group_id: UUID
    meeting_id: UUID
    protocol_number: str
    project_ids: list[UUID]
    text: str
    agenda_item: str
    mechanism: Mechanism
    targets: list[dict[str, Any]]
    motion_id: UUID
    motion_text: str
    votes: dict[str, VoteChoice]
    votes_for: int
    votes_against: int
    abstentions: int
    quorum_needed: int
    present_voting: int
    adopted: bool
    corrects: UUID | None
    superseded_by: UUID | None
    signed: bool
    held_on: date
    recorded_at: datetime


class DecisionsPublic(BaseModel):
    items: list[DecisionRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class ActionItemRowPublic(BaseModel):
    item_id: UUID
    group_id: UUID
    decision_id: UUID | None
    description: str
    owner: str
    deadline: date
    done_on: date | None
    overdue: bool
    assigned_at: datetime


class ActionItemsPublic(BaseModel):
    items: list[ActionItemRowPublic]
    total: int
    limit: int
    offset: int
    position: int


class ActionItemStatsPublic(BaseModel):
    group_id: UUID
    name: str
    total: int
    open: int
    overdue: int
    done: int
    completion_rate: float | None


class ActionItemStatsListPublic(BaseModel):
    groups: list[ActionItemStatsPublic]
    today: date
    position: int
