"""The unified audit log of every event, and provenance of authorised changes.

``GET /audit/events`` reads the ``audit`` projection (``projections/audit.py`` says why a
projection and how paging stays gap-free); provenance reads the aggregates' own events
(``interagency/audit.py``). Read by auditors and admins
not limited to one municipality (docs/access-control.md).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, StringConstraints

from api.audit_schemas import AuditEventsPublic, ProvenancePublic
from api.deps import AppDep, ServicesDep, SettingsDep, require_audit_reader
from api.routes.common import ACCESS_ERRORS, PROJECTION_READ, READ_ERRORS, MinPosition, wait_for
from domain.project import Stage
from domain.values import Agency
from interagency import audit
from interagency.audit import MAX_PAGE, AuditFilter
from projections.audit import INTERNAL_TYPES

router = APIRouter(
    prefix="/audit",
    tags=["audit"],
    dependencies=[Depends(require_audit_reader)],
    responses=ACCESS_ERRORS,
)

TypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EventTypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,99}$")]

LOG_ERRORS = {
    422: {"description": "Bad cursor, limit, filter or time range (problem+json)"},
    **PROJECTION_READ,
}


@router.get(
    "/events",
    response_model=AuditEventsPublic,
    responses=LOG_ERRORS,
    summary="Every event of every aggregate with who, why and when; filters; cursor pages",
)
def audit_events(
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=2**63 - 1,
            description="Cursor: the position after which the page starts (the previous "
            "page's next_cursor); 0 for the beginning of the log",
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Events per page")] = 100,
    aggregate_type: Annotated[
        list[TypeName] | None,
        Query(max_length=20, description="project, working_group, ...; repeat for several"),
    ] = None,
    internal: Annotated[
        bool,
        Query(
            description="false: leave out the internal records saved with commands "
            "(decision_index, inn_index, idempotency_record, token_index, principal_directory)"
        ),
    ] = True,
    aggregate_id: UUID | None = None,
    event_type: Annotated[
        list[EventTypeName] | None,
        Query(max_length=20, description="e.g. StageGatePassed; repeat for several"),
    ] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    agency: Annotated[Agency | None, Query(description="The acting official's agency")] = None,
    correlation_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    time_from: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Events at or after this time (with UTC offset)"),
    ] = None,
    time_to: Annotated[
        AwareDatetime | None,
        Query(alias="to", description="Events before this time (with UTC offset)"),
    ] = None,
    min_position: MinPosition = None,
) -> AuditEventsPublic:
    wait_for(services.audit, settings, min_position, response)
    head = services.app.head_position()
    page = audit.read_log(
        services.audit,
        AuditFilter(
            aggregate_types=tuple(aggregate_type or ()),
            excluded_types=() if internal else tuple(sorted(INTERNAL_TYPES)),
            aggregate_id=aggregate_id,
            event_types=tuple(event_type or ()),
            actor_id=actor,
            agency=None if agency is None else agency.value,
            correlation_id=correlation_id,
            time_from=time_from,
            time_to=time_to,
        ),
        after=after,
        limit=limit,
    )
    response.headers["X-Projection-Position"] = str(page.up_to)
    return AuditEventsPublic.of(page, max(head, page.up_to))


@router.get(
    "/provenance/projects/{project_id}/stages/{stage}",
    response_model=ProvenancePublic,
    responses={**READ_ERRORS, 422: {"description": "Unknown stage (problem+json)"}},
    summary="Why the project left this stage: the gate pass, its actor, basis and decision",
)
def stage_provenance(project_id: UUID, stage: Stage, app: AppDep) -> ProvenancePublic:
    return ProvenancePublic.of(audit.stage_transition(app, project_id, stage))


@router.get(
    "/provenance/projects/{project_id}/deliverables/{deliverable_id}",
    response_model=ProvenancePublic,
    responses=READ_ERRORS,
    summary="Why the deliverable was approved: the approval, its actor, basis and decision",
)
def deliverable_provenance(project_id: UUID, deliverable_id: UUID, app: AppDep) -> ProvenancePublic:
    return ProvenancePublic.of(audit.deliverable_approval(app, project_id, deliverable_id))


@router.get(
    "/provenance/redistributions/{redistribution_id}",
    response_model=ProvenancePublic,
    responses=READ_ERRORS,
    summary="Why volume moved between assignments: the redistribution, its basis and decision",
)
def redistribution_provenance(redistribution_id: UUID, app: AppDep) -> ProvenancePublic:
    return ProvenancePublic.of(audit.redistribution(app, redistribution_id))
