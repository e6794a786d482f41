"""Municipal assignments and redistributions."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.assignment_schemas import (
    Amend,
    Approve,
    AssignmentCreate,
    AssignmentPublic,
    CreatedWithId,
    DashboardPublic,
    LegPublic,
    LinePublic,
    OutsideTolerancePublic,
    RedistributionCreate,
    RedistributionPublic,
    RedistributionsPublic,
    RegisterPublic,
    RegisterRowPublic,
    ReportIn,
    ReportPublic,
    ReturnReport,
)
from api.deps import (
    ActorDep,
    AppDep,
    ExpectedVersionDep,
    IdempotencyDep,
    ReadsAggregate,
    ReadsAnalytics,
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
from api.routes.projects import HISTORY_LIMIT, AfterVersion, HistoryLimit, history_page
from api.schemas import CommandAccepted, HistoryPublic
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, state_headers
from domain.assignment import Leg, MunicipalAssignment
from domain.errors import NotFoundError
from domain.values import Agency
from interagency.idempotency import new_id

assignments = APIRouter(prefix="/assignments", tags=["municipal assignments"])
redistributions = APIRouter(prefix="/redistributions", tags=["municipal assignments"])

AssignmentId = Annotated[UUID, "assignment id"]


@assignments.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Draft an institution's municipal assignment for a fiscal year",
)
def draft_assignment(
    body: AssignmentCreate, response: Response, app: AppDep, meta: ActorDep, idem: IdempotencyDep
) -> CommandAccepted:
    result = app.draft_assignment(
        meta,
        organization_id=body.organization_id,
        institution=body.institution,
        agency=body.agency.value,
        founder=body.founder,
        municipality=body.municipality,
        fiscal_year=body.fiscal_year,
        lines=body.lines_as_dicts(),
        assignment_id=new_id(idem, "assignment"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/assignments/{result.aggregate_id}"
    return accepted(response, result)


@assignments.get(
    "",
    response_model=RegisterPublic,
    responses=PROJECTION_READ,
    summary="The register: per institution and service, planned, amended and actual volumes",
)
def register(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    agency: Agency | None = None,
    municipality: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> RegisterPublic:
    position = wait_for(services.assignments, settings, min_position, response)
    rows, total = services.assignments.register(
        fiscal_year=fiscal_year,
        agency=None if agency is None else agency.value,
        municipality=reader.municipality(municipality),
        limit=limit,
        offset=offset,
    )
    return RegisterPublic(
        items=[RegisterRowPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@assignments.get(
    "/outside-tolerance",
    response_model=DashboardPublic,
    responses=PROJECTION_READ,
    summary="Execution dashboard: services beyond tolerance and the subsidy at risk of return",
)
def outside_tolerance(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    fiscal_year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    agency: Agency | None = None,
    municipality: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> DashboardPublic:
    position = wait_for(services.assignments, settings, min_position, response)
    rows, total, at_risk = services.assignments.outside_tolerance(
        fiscal_year=fiscal_year,
        agency=None if agency is None else agency.value,
        municipality=reader.municipality(municipality),
        limit=limit,
        offset=offset,
    )
    return DashboardPublic(
        items=[OutsideTolerancePublic(**r) for r in rows],
        subsidy_at_risk=at_risk,
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@assignments.get(
    "/{assignment_id}",
    response_model=AssignmentPublic,
    responses=PAST_READ_ERRORS,
    summary="The assignment now, or as_of a moment / at a version (from its events); "
    "ETag is its version",
)
def get_assignment(
    reader: ReadsAggregate,
    assignment_id: AssignmentId,
    app: AppDep,
    response: Response,
    at: PointInTimeDep,
) -> AssignmentPublic:
    a = app.get_assignment(assignment_id, at.version, at.as_of)
    reader.check(a.municipality)
    state_headers(response, a, at)
    return assignment_public(a)


def assignment_public(a: MunicipalAssignment) -> AssignmentPublic:
    return AssignmentPublic(
        id=a.id,
        version=a.version,
        organization_id=a.organization_id,
        institution=a.institution,
        agency=a.agency,
        founder=a.founder,
        municipality=a.municipality,
        fiscal_year=a.fiscal_year,
        status=a.status.value,
        amendments=a.amendments,
        lines=[
            LinePublic(
                line_id=line.line_id,
                registry_number=line.registry_number,
                service_name=line.service_name,
                direction=line.direction,
                unit=line.unit,
                planned=line.planned,
                allowed_deviation_pct=line.allowed_deviation_pct,
                normative_cost=line.normative_cost,
                subsidy={y: line.subsidy(y) for y in line.planned},
            )
            for line in a.lines.values()
        ],
        reports=[
            ReportPublic(
                report_id=r.report_id,
                period=r.period,
                actual=r.actual,
                deviation=r.deviation,
                beyond_tolerance=r.beyond_tolerance,
                reasons=r.reasons,
                status=r.status.value,
            )
            for r in a.reports.values()
        ],
    )


@assignments.get("/{assignment_id}/history", response_model=HistoryPublic, responses=READ_ERRORS)
def assignment_history(
    reader: ReadsAggregate,
    assignment_id: AssignmentId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    reader.check(app.get_assignment(assignment_id).municipality)
    return history_page(app, assignment_id, after_version, limit)


@assignments.post(
    "/{assignment_id}/approve", response_model=CommandAccepted, responses=WRITE_ERRORS
)
def approve_assignment(
    assignment_id: AssignmentId,
    body: Approve,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.approve_assignment(
            meta,
            assignment_id,
            basis_document=body.basis_document,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@assignments.post(
    "/{assignment_id}/amend",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Amend planned volumes (reason and basis document required)",
)
def amend_assignment(
    assignment_id: AssignmentId,
    body: Amend,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.amend_assignment(
            meta,
            assignment_id,
            changes=[(c.line_id, c.year, c.planned) for c in body.changes],
            reason=body.reason,
            basis_document=body.basis_document,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@assignments.post(
    "/{assignment_id}/reports",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedWithId,
    responses=WRITE_ERRORS,
    summary="Report execution for a period; deviations beyond tolerance need a reason",
)
def report_execution(
    assignment_id: AssignmentId,
    body: ReportIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CreatedWithId:
    report_id = new_id(idem, "report")
    result = app.report_execution(
        meta,
        assignment_id,
        report_id=report_id,
        period=body.period.value,
        actual=body.actual,
        reasons=body.reasons,
        expected_version=expected,
        idempotency=idem,
    )
    return CreatedWithId(**accepted(response, result).model_dump(), created_id=report_id)


@assignments.post(
    "/{assignment_id}/reports/{report_id}/accept",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
)
def accept_report(
    assignment_id: AssignmentId,
    report_id: UUID,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.accept_report(
            meta, assignment_id, report_id, expected_version=expected, idempotency=idem
        ),
    )


@assignments.post(
    "/{assignment_id}/reports/{report_id}/return",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
)
def return_report(
    assignment_id: AssignmentId,
    report_id: UUID,
    body: ReturnReport,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.return_report(
            meta,
            assignment_id,
            report_id,
            reason=body.reason,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@assignments.post("/{assignment_id}/close", response_model=CommandAccepted, responses=WRITE_ERRORS)
def close_assignment(
    assignment_id: AssignmentId,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.close_assignment(meta, assignment_id, expected_version=expected, idempotency=idem),
    )


# -- redistributions -------------------------------------------------------------------


@redistributions.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Move volume of one service between assignments: all legs or none",
)
def redistribute(
    body: RedistributionCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    result = app.redistribute(
        meta.because(body.reason, basis_document=body.budget_basis),
        legs=[Leg(leg.assignment_id, leg.delta) for leg in body.legs],
        registry_number=body.registry_number,
        unit=body.unit.value,
        year=body.year,
        budget_basis=body.budget_basis,
        decision_id=body.decision_id,
        redistribution_id=new_id(idem, "redistribution"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/redistributions/{result.aggregate_id}"
    return accepted(response, result)


@redistributions.get(
    "",
    response_model=RedistributionsPublic,
    responses=PROJECTION_READ,
    summary="The redistribution log: from and to, volume, subsidy effect, basis, decision",
)
def redistribution_log(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> RedistributionsPublic:
    position = wait_for(services.assignments, settings, min_position, response)
    rows, total = services.assignments.redistributions(limit, offset, reader.municipality(None))
    return RedistributionsPublic(
        items=[_redistribution_public(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@redistributions.get(
    "/{redistribution_id}",
    response_model=RedistributionPublic,
    responses={**READ_ERRORS, **PROJECTION_READ},
    summary="One redistribution with its legs (projection)",
)
def get_redistribution(
    reader: ReadsProjection,
    redistribution_id: UUID,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> RedistributionPublic:
    wait_for(services.assignments, settings, min_position, response)
    row = services.assignments.redistribution(redistribution_id)
    if row is None:
        raise NotFoundError(f"no redistribution {redistribution_id}", id=str(redistribution_id))
    reader.check(services.assignments.redistribution_municipality(redistribution_id))
    return _redistribution_public(row)


def _redistribution_public(row: dict[str, Any]) -> RedistributionPublic:
    return RedistributionPublic(**{**row, "legs": [LegPublic(**leg) for leg in row["legs"]]})
