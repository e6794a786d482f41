"""Interagency projects: commands, the project itself, progress and history."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Response, status

from api.deps import ActorDep, AppDep, ExpectedVersionDep, IdempotencyDep, ServicesDep, SettingsDep
from api.errors import ProjectionLaggingError
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
from domain.base import event_type_name
from domain.errors import NotFoundError
from domain.project import (
    STAGE_LABELS_RU,
    STAGES,
    InteragencyProject,
    ProjectOrganization,
    ProjectStatus,
    Stage,
    TargetIndicator,
)
from domain.values import Agency, OrganizationKind, TargetDimension
from interagency.application import CommandResult, iter_event_fields
from interagency.services import Services
from interagency.settings import Settings
from projections.projects import ProjectFilter

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectId = Annotated[UUID, "project id"]
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description="Wait (briefly) until the projection has processed this event-log "
        "position, e.g. the `position` a write answered with: read your own writes.",
    ),
]

_CONFLICTS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown project (problem+json)"},
    409: {"description": "A rule was broken or another write came first (problem+json)"},
    412: {"description": "If-Match names a stale version (problem+json)"},
    422: {"description": "Invalid input (problem+json)"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_CONFLICTS,
    401: {"description": "No actor: send X-Actor-Id (problem+json)"},
}


def _accepted(response: Response, result: CommandResult) -> CommandAccepted:
    response.headers["ETag"] = f'"{result.version}"'
    response.headers["X-Event-Position"] = str(result.position)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CommandAccepted(id=result.aggregate_id, version=result.version, position=result.position)


def _wait(services: Services, settings: Settings, min_position: int | None) -> int:
    view = services.projects
    if min_position is not None and not view.wait_for(min_position, settings.read_wait_seconds):
        raise ProjectionLaggingError(view.name, min_position, view.position())
    return view.position()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=_WRITE,
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
            ProjectOrganization(o.name, OrganizationKind(o.kind), o.agency)
            for o in body.organizations
        ],
        strategic_priorities=body.strategic_priorities,
        targets=[
            TargetIndicator(
                TargetDimension(t.dimension), t.name, t.target_value, t.unit, t.baseline
            )
            for t in body.targets
        ],
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/projects/{result.aggregate_id}"
    return _accepted(response, result)


@router.get(
    "",
    response_model=ProjectsPublic,
    responses={503: {"description": "min_position not reached in time"}},
    summary="List projects (projection)",
)
def list_projects(
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    status_: Annotated[ProjectStatus | None, Query(alias="status")] = None,
    active_stage: Annotated[Stage | None, Query()] = None,
    agency: Annotated[Agency | None, Query()] = None,
    municipality: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    min_position: MinPosition = None,
) -> ProjectsPublic:
    position = _wait(services, settings, min_position)
    rows, total = services.projects.list_projects(
        ProjectFilter(
            status=None if status_ is None else status_.value,
            active_stage=None if active_stage is None else active_stage.value,
            agency=None if agency is None else agency.value,
            municipality=municipality,
        ),
        limit,
        offset,
    )
    response.headers["X-Projection-Position"] = str(position)
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
    responses={404: _CONFLICTS[404]},
    summary="The project as it is now (from its events); ETag is its version",
)
def get_project(project_id: ProjectId, app: AppDep, response: Response) -> ProjectPublic:
    p = app.get_project(project_id)
    response.headers["ETag"] = f'"{p.version}"'
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
            OrganizationPublic(name=o.name, kind=o.kind, agency=o.agency) for o in p.organizations
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
    responses={404: _CONFLICTS[404], 503: {"description": "min_position not reached in time"}},
    summary="Stage-by-stage progress, the four stages in order (projection)",
)
def get_progress(
    project_id: ProjectId,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> ProgressPublic:
    position = _wait(services, settings, min_position)
    summary = services.projects.get_summary(project_id)
    if summary is None:
        raise NotFoundError(f"no project with id {project_id}", id=str(project_id))
    rows = services.projects.stage_progress(project_id)
    response.headers["X-Projection-Position"] = str(position)
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


@router.get(
    "/{project_id}/history",
    response_model=HistoryPublic,
    responses={404: _CONFLICTS[404]},
    summary="The project's events in order: who, when, why, which request",
)
def get_history(project_id: ProjectId, app: AppDep) -> HistoryPublic:
    # Ensure the id names a project, not another kind of aggregate.
    app.get_project(project_id)
    return HistoryPublic(aggregate_id=project_id, events=history_events(app, project_id))


def history_events(app: Any, aggregate_id: UUID) -> list[HistoryEventPublic]:
    out = []
    for entry in app.history(aggregate_id):
        e = entry.event
        m = e.meta
        out.append(
            HistoryEventPublic(
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
        )
    return out


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
    responses=_WRITE,
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
    deliverable_id = uuid4()
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
    accepted = _accepted(response, result)
    if result.replayed:
        # The original request chose the id: find the deliverable it planned.
        p = app.get_project(project_id, version=result.version)
        deliverable_id = list(p.deliverables)[-1]
    response.headers["Location"] = f"/api/v1/projects/{project_id}"
    return DeliverablePlanned(**accepted.model_dump(), deliverable_id=deliverable_id)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/submit",
    response_model=CommandAccepted,
    responses=_WRITE,
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
    return _accepted(response, result)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/approve",
    response_model=CommandAccepted,
    responses=_WRITE,
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
        expected_version=expected,
        idempotency=idem,
    )
    return _accepted(response, result)


@router.post(
    "/{project_id}/deliverables/{deliverable_id}/reject",
    response_model=CommandAccepted,
    responses=_WRITE,
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
    return _accepted(response, result)


# -- gates and life cycle ----------------------------------------------------------------


@router.post(
    "/{project_id}/gate/pass",
    response_model=CommandAccepted,
    responses=_WRITE,
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
        expected_version=expected,
        idempotency=idem,
    )
    return _accepted(response, result)


@router.post(
    "/{project_id}/gate/reject",
    response_model=CommandAccepted,
    responses=_WRITE,
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
    return _accepted(response, result)


@router.post("/{project_id}/suspend", response_model=CommandAccepted, responses=_WRITE)
def suspend_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return _accepted(
        response,
        app.suspend_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )


@router.post("/{project_id}/resume", response_model=CommandAccepted, responses=_WRITE)
def resume_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return _accepted(
        response,
        app.resume_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )


@router.post("/{project_id}/cancel", response_model=CommandAccepted, responses=_WRITE)
def cancel_project(
    project_id: ProjectId,
    body: ReasonRequired,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return _accepted(
        response,
        app.cancel_project(
            meta, project_id, reason=body.reason, expected_version=expected, idempotency=idem
        ),
    )
