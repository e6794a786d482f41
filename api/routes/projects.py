"""Interagency projects: commands, the project itself, progress and history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import (
    ActorDep,
    AppDep,
    ExpectedVersionDep,
    IdempotencyDep,
    ReadsAggregate,
    ReadsProjection,
    ServicesDep,
    SettingsDep,
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
from api.schemas import (
    ActorPublic,
    CommandAccepted,
    DeliverableCreate,
    DeliverablePlanned,
    DeliverablePublic,
    DeliverableSubmit,
    GateBasisPublic,
    GateDecision,
    HistoryEventPublic,
    HistoryPublic,
    OrganizationPublic,
    ProgressPublic,
    ProjectCreate,
    ProjectPublic,
    ProjectsPublic,
    ProjectSummaryPublic,
    ReasonRequired,
    StageProgressPublic,
    StagePublic,
    TargetPublic,
    Why,
)
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, state_headers
from domain.base import event_type_name
from domain.errors import NotFoundError
from domain.project import (
    STAGE_LABELS_RU,
    STAGES,
    DeliverableState,
    InteragencyProject,
    ProjectOrganization,
    ProjectStatus,
    Stage,
    StageStatus,
    TargetIndicator,
)
from domain.values import Agency, OrganizationKind, TargetDimension
from interagency.application import HistoryEntry, InteragencyApplication, iter_event_fields
from interagency.idempotency import new_id
from interagency.timetravel import entries, position_of
from projections.projects import ProjectFilter

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectId = Annotated[UUID, "project id"]

# The history of an aggregate is read in pages by version: ``after_version`` is the cursor.
HISTORY_LIMIT = 1000
AfterVersion = Annotated[
    int,
    Query(
        ge=0,
        description="Events after this version: 0 from the first, else the previous page's "
        "`next_after_version`",
    ),
]
HistoryLimit = Annotated[int, Query(ge=1, le=HISTORY_LIMIT, description="At most this many events")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Initiate an interagency project (stage 1 becomes active)",
)
def initiate_project(
    body: ProjectCreate, response: Response, app: AppDep, meta: ActorDep, idem: IdempotencyDep
) -> CommandAccepted:
    result = app.initiate_project(
        meta,
        title=body.title,
        goal=body.goal,
        municipality=body.municipality,
        lead_agency=body.lead_agency.value,
        agencies=[a.value for a in body.agencies],
        organizations=[
            ProjectOrganization(o.name, OrganizationKind(o.kind), o.agency, o.organization_id)
            for o in body.organizations
        ],
        strategic_priorities=body.strategic_priorities,
        targets=[
            TargetIndicator(
                TargetDimension(t.dimension), t.name, t.target_value, t.unit, t.baseline
            )
            for t in body.targets
        ],
        project_id=new_id(idem, "project"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/projects/{result.aggregate_id}"
    return accepted(response, result)


@router.get(
    "",
    response_model=ProjectsPublic,
    responses=PROJECTION_READ,
    summary="List projects (projection)",
)
def list_projects(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    status_: Annotated[ProjectStatus | None, Query(alias="status")] = None,
    active_stage: Annotated[Stage | None, Query()] = None,
    agency: Annotated[Agency | None, Query()] = None,
    municipality: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> ProjectsPublic:
    position = wait_for(services.projects, settings, min_position, response)
    rows, total = services.projects.list_projects(
        ProjectFilter(
            status=None if status_ is None else status_.value,
            active_stage=None if active_stage is None else active_stage.value,
            agency=None if agency is None else agency.value,
            municipality=reader.municipality(municipality),
        ),
        limit,
        offset,
    )
    return ProjectsPublic(
        items=[ProjectSummaryPublic(id=r.pop("project_id"), **_summary_fields(r)) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


def _summary_fields(row: dict[str, Any]) -> dict[str, Any]:
    keep = ProjectSummaryPublic.model_fields.keys()
    return {k: v for k, v in row.items() if k in keep}


@router.get(
    "/{project_id}",
    response_model=ProjectPublic,
    responses=PAST_READ_ERRORS,
    summary="The project now, or as_of a moment / at a version (from its events); "
    "ETag is its version",
)
def get_project(
    reader: ReadsAggregate,
    project_id: ProjectId,
    app: AppDep,
    response: Response,
    at: PointInTimeDep,
) -> ProjectPublic:
    p = app.get_project(project_id, at.version, at.as_of)
    reader.check(p.municipality)
    state_headers(response, p, at)
    return project_public(p)


def project_public(p: InteragencyProject) -> ProjectPublic:
    stages = []
    for s in STAGES:
        st = p.stages[s]
        stages.append(
            StagePublic(
                code=s,
                number=s.number,
                label_ru=STAGE_LABELS_RU[s],
                status=st.status,
                entered_at=st.entered_at,
                left_at=st.left_at,
                gate=None if st.gate_basis is None else GateBasisPublic(**st.gate_basis),
                gate_rejections=st.gate_rejections,
                deliverables=[
                    DeliverablePublic(
                        id=d.id,
                        stage=d.stage,
                        title=d.title,
                        mechanism=d.mechanism,
                        mandatory=d.mandatory,
                        due_date=d.due_date,
                        state=d.state,
                        submissions=d.submissions,
                        rejection_reason=d.rejection_reason,
                        document_ref=d.document_ref,
                    )
                    for d in p.deliverables_of(s)
                ],
            )
        )
    return ProjectPublic(
        id=p.id,
        version=p.version,
        title=p.title,
        goal=p.goal,
        municipality=p.municipality,
        lead_agency=p.lead_agency,
        agencies=p.agencies,
        organizations=[
            OrganizationPublic(
                name=o.name, kind=o.kind, agency=o.agency, organization_id=o.organization_id
            )
            for o in p.organizations
        ],
        strategic_priorities=p.strategic_priorities,
        targets=[TargetPublic(**t.as_dict()) for t in p.targets],
        status=p.status,
        active_stage=p.active_stage,
        created_at=p.created_on,
        modified_at=p.modified_on,
        stages=stages,
    )


@router.get(
    "/{project_id}/progress",
    response_model=ProgressPublic,
    responses={**PAST_READ_ERRORS, **PROJECTION_READ},
    summary="Stage-by-stage progress, the four stages in order (projection; with as_of or "
    "version, from the project's events at that moment)",
)
def get_progress(
    reader: ReadsProjection,
    project_id: ProjectId,
    app: AppDep,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    at: PointInTimeDep,
    min_position: MinPosition = None,
) -> ProgressPublic:
    if not at.is_present:
        # A past moment is not in the projection (it holds the present): rebuild the project
        # at that moment and count from it as the projection does.
        p = app.get_project(project_id, at.version, at.as_of)
        reader.check(p.municipality)
        state_headers(response, p, at)
        moment = at.as_of or datetime.now(UTC)
        return progress_at(p, moment, position_of(app, p.id, p.version))
    position = wait_for(services.projects, settings, min_position, response)
    summary = services.projects.get_summary(project_id)
    if summary is None:
        raise NotFoundError(f"no project with id {project_id}", id=str(project_id))
    reader.check(summary["municipality"])
    rows = services.projects.stage_progress(project_id)
    return ProgressPublic(
        project_id=project_id,
        status=summary["status"],
        active_stage=summary["active_stage"],
        position=position,
        stages=[
            StageProgressPublic(
                stage=r["stage"],
                number=r["stage_number"],
                label_ru=STAGE_LABELS_RU[Stage(r["stage"])],
                status=r["status"],
                entered_at=r["entered_at"],
                completed_at=r["completed_at"],
                duration_seconds=None
                if r["duration_seconds"] is None
                else float(r["duration_seconds"]),
                deliverables={
                    "total": r["deliverables_total"],
                    "planned": r["deliverables_planned"],
                    "submitted": r["deliverables_submitted"],
                    "approved": r["deliverables_approved"],
                    "rejected": r["deliverables_rejected"],
                },
                mandatory_approved=r["mandatory_approved"],
                mandatory_total=r["mandatory_total"],
                percent_complete=float(r["percent_complete"]),
                gate_rejections=r["gate_rejections"],
                gate_decision_ref=r["gate_decision_ref"],
                gate_basis_document=r["gate_basis_document"],
            )
            for r in rows
        ],
    )


def progress_at(p: InteragencyProject, moment: datetime, position: int) -> ProgressPublic:
    """The progress the projection would show for this state of the project.

    Same counts and percentages as ``projections.projects`` (percent rounded half up to one
    decimal, as PostgreSQL's ``round``); an unfinished stage's duration runs to ``moment``.
    """
    stages = []
    for s in STAGES:
        st = p.stages[s]
        ds = p.deliverables_of(s)
        counts = {"total": len(ds)} | {
            state.value: sum(1 for d in ds if d.state is state) for state in DeliverableState
        }
        mandatory = [d for d in ds if d.mandatory]
        m_approved = sum(1 for d in mandatory if d.state is DeliverableState.APPROVED)
        completed = st.status is StageStatus.COMPLETED
        if completed:
            percent = Decimal(100)
        elif mandatory:
            percent = Decimal(100 * m_approved) / len(mandatory)
        elif ds:
            percent = Decimal(100 * counts["approved"]) / len(ds)
        else:
            percent = Decimal(0)
        basis = st.gate_basis if completed and st.gate_basis is not None else {}
        stages.append(
            StageProgressPublic(
                stage=s,
                number=s.number,
                label_ru=STAGE_LABELS_RU[s],
                status=st.status,
                entered_at=st.entered_at,
                completed_at=st.left_at if completed else None,
                duration_seconds=None
                if st.entered_at is None
                else ((st.left_at or moment) - st.entered_at).total_seconds(),
                deliverables=counts,
                mandatory_approved=m_approved,
                mandatory_total=len(mandatory),
                percent_complete=float(percent.quantize(Decimal("0.1"), ROUND_HALF_UP)),
                gate_rejections=st.gate_rejections,
                gate_decision_ref=basis.get("decision_ref"),
                gate_basis_document=basis.get("basis_document"),
            )
        )
    return ProgressPublic(
        project_id=p.id,
        status=p.status,
        active_stage=p.active_stage,
        position=position,
        stages=stages,
    )


@router.get(
    "/{project_id}/history",
    response_model=HistoryPublic,
    responses=READ_ERRORS,
    summary="The project's events in order: who, when, why, which request",
)
def get_history(
    reader: ReadsAggregate,
    project_id: ProjectId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    # Ensure the id names a project, not another kind of aggregate.
    reader.check(app.get_project(project_id).municipality)
    return history_page(app, project_id, after_version, limit)


def history_page(
    app: InteragencyApplication, aggregate_id: UUID, after_version: int, limit: int
) -> HistoryPublic:
    """Up to ``limit`` events of the aggregate after ``after_version``, read from the store
    (one more is read to tell whether the page is the last)."""
    found = entries(app, aggregate_id, gt=after_version, limit=limit + 1)
    page = found[:limit]
    return HistoryPublic(
        aggregate_id=aggregate_id,
        events=[_history_event(entry) for entry in page],
        next_after_version=page[-1].version if len(found) > limit else None,
    )


def _history_event(entry: HistoryEntry) -> HistoryEventPublic:
    e = entry.event
    m = e.meta
    return HistoryEventPublic(
        type=event_type_name(e),
        version=entry.version,
        position=entry.position,
        time=e.timestamp,
        actor=ActorPublic(id=m.actor_id, role=m.actor_role, agency=m.actor_agency),
        reason=m.reason,
        basis_document=m.basis_document,
        decision_ref=m.decision_ref,
        correlation_id=m.correlation_id,
        data={k: _jsonable(v) for k, v in iter_event_fields(e)},
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, UUID):
        return str(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


# -- deliverables ------------------------------------------------------------------------


@router.post(
    "/{project_id}/deliverables",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliverablePlanned,
    responses=WRITE_ERRORS,
    summary="Plan a deliverable of a stage",
)
def plan_deliverable(
    project_id: ProjectId,
    body: DeliverableCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> DeliverablePlanned:
    # Derived from the Idempotency-Key when there is one, so a retry answers the same id.
    deliverable_id = new_id(idem, "deliverable")
    result = app.plan_deliverable(
        meta,
        project_id,
        stage=body.stage.value,
        title=body.title,
        mechanism=body.mechanism.value,
        mandatory=body.mandatory,
        due_date=body.due_date,
        deliverable_id=deliverable_id,
        expected_version=expected,
        idempotency=idem,
    )
    answer = accepted(response, result)
    response.headers["Location"] = f"/api/v1/projects/{project_id}"
    return DeliverablePlanned(**answer.model_dump(), deliverable_id=deliverable_id)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/submit",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Submit (or resubmit after rejection) a deliverable",
)
def submit_deliverable(
    project_id: ProjectId,
    deliverable_id: UUID,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
    body: DeliverableSubmit | None = None,
) -> CommandAccepted:
    result = app.submit_deliverable(
        meta,
        project_id,
        deliverable_id,
        document_ref=None if body is None else body.document_ref,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/approve",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Approve a submitted deliverable",
)
def approve_deliverable(
    project_id: ProjectId,
    deliverable_id: UUID,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
    body: Why | None = None,
) -> CommandAccepted:
    why = body or Why()
    result = app.approve_deliverable(
        meta.because(why.reason, basis_document=why.basis_document, decision_ref=why.decision_ref),
        project_id,
        deliverable_id,
        decision_id=why.decision_id,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/reject",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Reject a submitted deliverable, with a reason",
)
def reject_deliverable(
    project_id: ProjectId,
    deliverable_id: UUID,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.reject_deliverable(
        meta,
        project_id,
        deliverable_id,
        reason=body.reason,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


# -- gates and life cycle ----------------------------------------------------------------


@router.post(
    "/{project_id}/gate/pass",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Pass the active stage's gate (needs every mandatory deliverable approved)",
)
def pass_gate(
    project_id: ProjectId,
    body: GateDecision,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.pass_gate(
        meta,
        project_id,
        reason=body.reason,
        decision_ref=body.decision_ref,
        basis_document=body.basis_document,
        decision_id=body.decision_id,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post(
    "/{project_id}/gate/reject",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Reject the active stage's gate, with a reason",
)
def reject_gate(
    project_id: ProjectId,
    body: GateDecision,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.reject_gate(
        meta,
        project_id,
        reason=body.reason,
        decision_ref=body.decision_ref,
        basis_document=body.basis_document,
        expected_version=expected,
        idempotency=idem,
    )
    return accepted(response, result)


@router.post("/{project_id}/suspend", response_model=CommandAccepted, responses=WRITE_ERRORS)
def suspend_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.suspend_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )


@router.post("/{project_id}/resume", response_model=CommandAccepted, responses=WRITE_ERRORS)
def resume_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.resume_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )


@router.post("/{project_id}/cancel", response_model=CommandAccepted, responses=WRITE_ERRORS)
def cancel_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.cancel_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )
