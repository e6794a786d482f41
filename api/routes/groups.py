"""Working groups: members, meetings, votes, decisions, protocols, action items."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import (
    ActorDep,
    AppDep,
    ExpectedVersionDep,
    IdempotencyDep,
    ReadsAggregate,
    ReadsPersonal,
    ReadsProjection,
    ServicesDep,
    SettingsDep,
)
from api.group_schemas import (
    ActionItemComplete,
    ActionItemCreate,
    ActionItemPublic,
    AttendanceIn,
    Created,
    DecisionCreate,
    DecisionPublic,
    GroupCreate,
    GroupDissolve,
    GroupPublic,
    GroupsPublic,
    GroupSummaryPublic,
    MeetingCreate,
    MeetingPublic,
    MeetingsPublic,
    MeetingStatsPublic,
    MemberCreate,
    MemberDismiss,
    MemberPublic,
    MotionIn,
    MotionPublic,
    MotionVotedPublic,
    ProtocolSign,
    RosterPublic,
    TargetPublic,
)
from api.routes.common import (
    PROJECTION_READ,
    READ_ERRORS,
    WRITE_ERRORS,
    Limit,
    MinPosition,
    Offset,
    accepted,
    wait_for,
)
from api.routes.projects import HISTORY_LIMIT, AfterVersion, HistoryLimit, history_page
from api.schemas import CommandAccepted, HistoryPublic
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, state_headers
from domain.errors import NotFoundError
from domain.working_group import DecisionTarget, QuorumRule, WorkingGroup
from interagency.idempotency import new_id
from interagency.pipeline import CommandResult

router = APIRouter(prefix="/working-groups", tags=["working groups"])

GroupId = Annotated[UUID, "working group id"]


def _created(response: Response, result: CommandResult, created_id: UUID) -> Created:
    answer = accepted(response, result)
    return Created(**answer.model_dump(), created_id=created_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Establish a working, administrative or interagency group",
)
def establish_group(
    body: GroupCreate, response: Response, app: AppDep, meta: ActorDep, idem: IdempotencyDep
) -> CommandAccepted:
    result = app.establish_group(
        meta,
        kind=body.kind.value,
        name=body.name,
        basis_act=body.basis_act,
        municipality=body.municipality,
        project_id=body.project_id,
        quorum=QuorumRule(body.quorum.numerator, body.quorum.denominator, body.quorum.strict),
        majority_rule=body.majority_rule.value,
        group_id=new_id(idem, "group"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/working-groups/{result.aggregate_id}"
    return accepted(response, result)


@router.get(
    "", response_model=GroupsPublic, responses=PROJECTION_READ, summary="List groups (projection)"
)
def list_groups(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    municipality: Annotated[str | None, Query(max_length=200)] = None,
    project_id: UUID | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> GroupsPublic:
    position = wait_for(services.groups, settings, min_position, response)
    rows, total = services.groups.list_groups(
        reader.municipality(municipality), project_id, limit, offset
    )
    return GroupsPublic(
        items=[GroupSummaryPublic(id=r["group_id"], **r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@router.get(
    "/{group_id}",
    response_model=GroupPublic,
    responses=PAST_READ_ERRORS,
    summary="The group now, or as_of a moment / at a version (from its events); "
    "ETag is its version",
)
def get_group(
    reader: ReadsAggregate, group_id: GroupId, app: AppDep, response: Response, at: PointInTimeDep
) -> GroupPublic:
    g = app.get_group(group_id, at.version, at.as_of)
    reader.check(g.municipality)
    state_headers(response, g, at)
    return group_public(g)


def group_public(g: WorkingGroup) -> GroupPublic:
    return GroupPublic(
        id=g.id,
        version=g.version,
        kind=g.kind,
        name=g.name,
        basis_act=g.basis_act,
        municipality=g.municipality,
        project_id=g.project_id,
        quorum=g.quorum.describe(),
        majority_rule=g.majority_rule,
        status=g.status.value,
        members=[MemberPublic(**vars(m)) for m in g.members.values()],
        meetings=[
            MeetingPublic(
                id=m.id,
                held_on=m.held_on,
                agenda=m.agenda,
                present=sorted(m.present),
                attendance_recorded=m.attendance_recorded,
                protocol_number=m.protocol_number,
                signed_at=m.signed_at,
                signed_by=m.signed_by,
                motions=[MotionPublic(**vars(mo)) for mo in m.motions.values()],
                decisions=m.decisions,
            )
            for m in g.meetings.values()
        ],
        decisions=[
            DecisionPublic(
                id=d.id,
                meeting_id=d.meeting_id,
                protocol_number=d.protocol_number,
                text=d.text,
                motion_id=d.motion_id,
                agenda_item=d.agenda_item,
                mechanism=d.mechanism,
                targets=[TargetPublic(**vars(t)) for t in d.targets],
                corrects=d.corrects,
                superseded_by=d.superseded_by,
                adopted=d.adopted,
                recorded_at=d.recorded_at,
            )
            for d in g.decisions.values()
        ],
        action_items=[ActionItemPublic(**vars(a)) for a in g.action_items.values()],
    )


@router.get("/{group_id}/history", response_model=HistoryPublic, responses=READ_ERRORS)
def get_history(
    reader: ReadsAggregate,
    group_id: GroupId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    reader.check(app.get_group(group_id).municipality)
    return history_page(app, group_id, after_version, limit)


@router.get(
    "/{group_id}/roster",
    response_model=RosterPublic,
    responses={**READ_ERRORS, **PROJECTION_READ},
    summary="Current members by agency and position (projection)",
)
def roster(
    reader: ReadsPersonal,
    group_id: GroupId,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> RosterPublic:
    position = wait_for(services.groups, settings, min_position, response)
    reader.check(_known(services.groups.get_group(group_id), group_id)["municipality"])
    rows = services.groups.roster(group_id)
    members = [MemberPublic(id=r["member_id"], **r) for r in rows]
    return RosterPublic(
        group_id=group_id,
        members=members,
        by_agency=dict(Counter(m.agency.value for m in members)),
        by_position=dict(Counter(m.position.value for m in members)),
        position=position,
    )


@router.get(
    "/{group_id}/meetings",
    response_model=MeetingsPublic,
    responses={**READ_ERRORS, **PROJECTION_READ},
    summary="Meetings with attendance rate and whether quorum was met (projection)",
)
def meetings(
    reader: ReadsProjection,
    group_id: GroupId,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> MeetingsPublic:
    position = wait_for(services.groups, settings, min_position, response)
    reader.check(_known(services.groups.get_group(group_id), group_id)["municipality"])
    rows = services.groups.meetings(group_id)
    return MeetingsPublic(
        group_id=group_id,
        meetings=[
            MeetingStatsPublic(
                **{
                    **r,
                    "attendance_rate": None
                    if r["attendance_rate"] is None
                    else float(r["attendance_rate"]),
                }
            )
            for r in rows
        ],
        position=position,
    )


def _known(row: dict[str, Any] | None, group_id: UUID) -> dict[str, Any]:
    if row is None:
        raise NotFoundError(f"no working group with id {group_id}", id=str(group_id))
    return row


# -- members ---------------------------------------------------------------------------


@router.post(
    "/{group_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses=WRITE_ERRORS,
    summary="Appoint a member (chair, deputy, secretary or member; voting or not)",
)
def appoint_member(
    group_id: GroupId,
    body: MemberCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> Created:
    member_id = new_id(idem, "member")
    result = app.appoint_member(
        meta,
        group_id,
        member_id=member_id,
        person=body.person,
        organization=body.organization,
        organization_id=body.organization_id,
        agency=body.agency.value,
        position=body.position.value,
        voting=body.voting,
        appointed_on=body.appointed_on,
        expected_version=expected,
        idempotency=idem,
    )
    return _created(response, result, member_id)


@router.post(
    "/{group_id}/members/{member_id}/dismiss",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
)
def dismiss_member(
    group_id: GroupId,
    member_id: UUID,
    body: MemberDismiss,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.dismiss_member(
        meta,
        group_id,
        member_id,
        dismissed_on=body.dismissed_on,
        reason=body.reason,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


# -- meetings --------------------------------------------------------------------------


@router.post(
    "/{group_id}/meetings",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses=WRITE_ERRORS,
    summary="Schedule a meeting with its agenda (an interagency group needs two agencies)",
)
def schedule_meeting(
    group_id: GroupId,
    body: MeetingCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> Created:
    meeting_id = new_id(idem, "meeting")
    result = app.schedule_meeting(
        meta,
        group_id,
        meeting_id=meeting_id,
        held_on=body.held_on,
        agenda=body.agenda,
        expected_version=expected,
        idempotency=idem,
    )
    return _created(response, result, meeting_id)


@router.post(
    "/{group_id}/meetings/{meeting_id}/attendance",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Record who attended",
)
def record_attendance(
    group_id: GroupId,
    meeting_id: UUID,
    body: AttendanceIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.record_attendance(
        meta,
        group_id,
        meeting_id,
        present=body.present,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post(
    "/{group_id}/meetings/{meeting_id}/motions",
    status_code=status.HTTP_201_CREATED,
    response_model=MotionVotedPublic,
    responses=WRITE_ERRORS,
    summary="Vote on a motion: refused (409) without quorum; adopted if the majority holds",
)
def vote_on_motion(
    group_id: GroupId,
    meeting_id: UUID,
    body: MotionIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> MotionVotedPublic:
    motion_id = new_id(idem, "motion")
    result = app.vote_on_motion(
        meta,
        group_id,
        meeting_id,
        motion_id=motion_id,
        agenda_item=body.agenda_item,
        text=body.text,
        votes={k: v.value for k, v in body.votes.items()},
        expected_version=expected,
        idempotency=idem,
    )
    answer = accepted(response, result)
    # A recorded motion never changes, so the group's state at this version tells its outcome.
    motion = app.get_group(group_id, version=result.version).meetings[meeting_id].motions[motion_id]
    choices = list(motion.votes.values())
    return MotionVotedPublic(
        **answer.model_dump(),
        motion_id=motion_id,
        adopted=motion.adopted,
        votes_for=sum(1 for c in choices if c.value == "for"),
        votes_against=sum(1 for c in choices if c.value == "against"),
        abstentions=sum(1 for c in choices if c.value == "abstain"),
        quorum_needed=motion.quorum_needed,
        present_voting=motion.present_voting,
    )


@router.post(
    "/{group_id}/meetings/{meeting_id}/decisions",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses=WRITE_ERRORS,
    summary="Record the protocol's decision on a voted motion (and what it authorises)",
)
def record_decision(
    group_id: GroupId,
    meeting_id: UUID,
    body: DecisionCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> Created:
    decision_id = new_id(idem, "decision")
    result = app.record_decision(
        meta,
        group_id,
        meeting_id,
        decision_id=decision_id,
        protocol_number=body.protocol_number,
        text=body.text,
        motion_id=body.motion_id,
        mechanism=body.mechanism.value,
        targets=[
            DecisionTarget(
                kind=t.kind,
                project_id=t.project_id,
                stage=t.stage,
                deliverable_id=t.deliverable_id,
                redistribution_ref=t.redistribution_ref,
            )
            for t in body.targets
        ],
        corrects=body.corrects,
        expected_version=expected,
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/decisions/{decision_id}"
    return _created(response, result, decision_id)


@router.post(
    "/{group_id}/meetings/{meeting_id}/sign",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Sign the meeting's protocol: from then on it never changes",
)
def sign_protocol(
    group_id: GroupId,
    meeting_id: UUID,
    body: ProtocolSign,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.sign_protocol(
        meta,
        group_id,
        meeting_id,
        protocol_number=body.protocol_number,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


# -- action items and dissolution --------------------------------------------------------


@router.post(
    "/{group_id}/action-items",
    status_code=status.HTTP_201_CREATED,
    response_model=Created,
    responses=WRITE_ERRORS,
    summary="Assign an action item (owner, deadline, optionally the decision behind it)",
)
def assign_action_item(
    group_id: GroupId,
    body: ActionItemCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> Created:
    item_id = new_id(idem, "action-item")
    result = app.assign_action_item(
        meta,
        group_id,
        item_id=item_id,
        description=body.description,
        owner=body.owner,
        deadline=body.deadline,
        decision_id=body.decision_id,
        expected_version=expected,
        idempotency=idem,
    )
    return _created(response, result, item_id)


@router.post(
    "/{group_id}/action-items/{item_id}/complete",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
)
def complete_action_item(
    group_id: GroupId,
    item_id: UUID,
    body: ActionItemComplete,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.complete_action_item(
        meta,
        group_id,
        item_id,
        done_on=body.done_on,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post("/{group_id}/dissolve", response_model=CommandAccepted, responses=WRITE_ERRORS)
def dissolve_group(
    group_id: GroupId,
    body: GroupDissolve,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.dissolve_group(
        meta, group_id, reason=body.reason, expected_version=expected, idempotency=idem
    )
    return accepted(response, result)
