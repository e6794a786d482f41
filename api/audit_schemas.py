"""Schemas of the audit log and of provenance (answers only: audit reads take no body)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import ActorPublic
from interagency.audit import (
    Change,
    DecisionProvenance,
    MemberRef,
    Provenance,
)
from projections.audit import AuditEntry, AuditPage

# -- the log ------------------------------------------------------------------------------


class AuditEventPublic(BaseModel):
    position: int = Field(description="The event's global position in the log (the cursor)")
    aggregate_id: UUID
    aggregate_type: str = Field(description="project, working_group, assignment, ...")
    aggregate_version: int = Field(description="The aggregate's version after this event")
    event_type: str = Field(description="Past-tense name, e.g. StageGatePassed")
    topic: str = Field(description="The stored event class, e.g. domain.project:...")
    time: datetime
    actor: ActorPublic
    reason: str | None
    basis_document: str | None
    decision_ref: str | None
    correlation_id: str | None = Field(description="The request id of the write")
    data: dict[str, Any] = Field(description="The event's own fields; personal data redacted")

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEventPublic:
        return cls(
            position=e.position,
            aggregate_id=e.aggregate_id,
            aggregate_type=e.aggregate_type,
            aggregate_version=e.aggregate_version,
            event_type=e.event_type,
            topic=e.topic,
            time=e.time,
            actor=ActorPublic(id=e.actor_id or "", role=e.actor_role or "", agency=e.actor_agency),
            reason=e.reason,
            basis_document=e.basis_document,
            decision_ref=e.decision_ref,
            correlation_id=e.correlation_id,
            data=e.data,
        )


class AuditEventsPublic(BaseModel):
    events: list[AuditEventPublic]
    next_cursor: int = Field(
        description="Pass as `after` for the next page; every matching event with "
        "after < position <= next_cursor is in this page"
    )
    up_to: int = Field(
        description="The audit projection's position: the log is complete up to here, "
        "and no page goes beyond it"
    )
    head: int = Field(description="The event log's last position when the page was read")
    caught_up: bool = Field(
        description="True when next_cursor reached the head: nothing more to read now"
    )
    limit: int

    @classmethod
    def of(cls, page: AuditPage, head: int) -> AuditEventsPublic:
        return cls(
            events=[AuditEventPublic.of(e) for e in page.entries],
            next_cursor=page.next_cursor,
            up_to=page.up_to,
            head=head,
            caught_up=not page.full and page.next_cursor >= head,
            limit=page.limit,
        )


# -- provenance ---------------------------------------------------------------------------


class ChangePublic(BaseModel):
    kind: str = Field(description="stage_transition, deliverable_approval or redistribution")
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    version: int
    position: int
    time: datetime
    actor: ActorPublic
    reason: str | None
    basis_document: str | None
    decision_ref: str | None
    correlation_id: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, c: Change) -> ChangePublic:
        return cls(
            kind=c.kind.value,
            aggregate_type=c.aggregate_type,
            aggregate_id=c.aggregate_id,
            event_type=c.event_type,
            version=c.version,
            position=c.position,
            time=c.time,
            actor=ActorPublic(id=c.actor.id, role=c.actor.role, agency=c.actor.agency),
            reason=c.reason,
            basis_document=c.basis_document,
            decision_ref=c.decision_ref,
            correlation_id=c.correlation_id,
            data=c.data,
        )


class MemberRefPublic(BaseModel):
    member_id: UUID
    person: str
    organization: str
    agency: str
    position: str = Field(description="chair, deputy, secretary or member")
    voting: bool
    dismissed_on: date | None = Field(description="Set if dismissed before the change")

    @classmethod
    def of(cls, m: MemberRef) -> MemberRefPublic:
        return cls(**m.__dict__)


class PresentMemberPublic(MemberRefPublic):
    vote: str | None = Field(description="for, against, abstain; null if they did not vote")


class MemberVotePublic(MemberRefPublic):
    vote: str


class VotesPublic(BaseModel):
    motion_id: UUID
    motion_text: str
    votes_for: int
    votes_against: int
    abstentions: int
    voting_members: int = Field(description="Voting members of the group at the meeting")
    present_voting: int
    quorum_needed: int
    majority_rule: str
    adopted: bool
    by_member: list[MemberVotePublic]


class GroupRefPublic(BaseModel):
    group_id: UUID
    name: str
    kind: str
    basis_act: str
    municipality: str
    project_id: UUID | None


class MeetingRefPublic(BaseModel):
    meeting_id: UUID
    held_on: date
    agenda_item: str
    agenda_title: str | None
    protocol_number: str | None
    signed_at: datetime | None
    signed_by: list[MemberRefPublic]
    present: list[PresentMemberPublic]


class DecisionProvenancePublic(BaseModel):
    decision_id: UUID
    text: str
    mechanism: str
    targets: list[dict[str, Any]]
    protocol_number: str
    adopted: bool
    adopted_on: date = Field(description="The date of the meeting that voted it")
    recorded_at: datetime
    corrects: UUID | None
    superseded_by: UUID | None = Field(description="A later decision correcting this one")
    votes: VotesPublic
    group: GroupRefPublic
    meeting: MeetingRefPublic

    @classmethod
    def of(cls, d: DecisionProvenance) -> DecisionProvenancePublic:
        v = d.votes
        return cls(
            decision_id=d.decision_id,
            text=d.text,
            mechanism=d.mechanism,
            targets=d.targets,
            protocol_number=d.protocol_number,
            adopted=d.adopted,
            adopted_on=d.adopted_on,
            recorded_at=d.recorded_at,
            corrects=d.corrects,
            superseded_by=d.superseded_by,
            votes=VotesPublic(
                motion_id=v.motion_id,
                motion_text=v.motion_text,
                votes_for=v.votes_for,
                votes_against=v.votes_against,
                abstentions=v.abstentions,
                voting_members=v.voting_members,
                present_voting=v.present_voting,
                quorum_needed=v.quorum_needed,
                majority_rule=v.majority_rule,
                adopted=v.adopted,
                by_member=[MemberVotePublic(**m.__dict__, vote=choice) for m, choice in v.votes],
            ),
            group=GroupRefPublic(**d.group.__dict__),
            meeting=MeetingRefPublic(
                meeting_id=d.meeting.meeting_id,
                held_on=d.meeting.held_on,
                agenda_item=d.meeting.agenda_item,
                agenda_title=d.meeting.agenda_title,
                protocol_number=d.meeting.protocol_number,
                signed_at=d.meeting.signed_at,
                signed_by=[MemberRefPublic.of(m) for m in d.meeting.signed_by],
                present=[
                    PresentMemberPublic(**p.member.__dict__, vote=p.vote) for p in d.meeting.present
                ],
            ),
        )


class ProvenancePublic(BaseModel):
    change: ChangePublic
    decision: DecisionProvenancePublic | None = Field(
        description="The working-group decision that authorised the change; null if none"
    )
    note: str | None = Field(description="Why there is no decision, or that it was corrected later")

    @classmethod
    def of(cls, p: Provenance) -> ProvenancePublic:
        return cls(
            change=ChangePublic.of(p.change),
            decision=None if p.decision is None else DecisionProvenancePublic.of(p.decision),
            note=p.note,
        )
