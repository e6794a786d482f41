"""Additional general education programs: life cycle, enrolments; territories' population.

List and catalogue reads are projections (api/routes/network.py); this router writes, and
reads one program from its events.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response, status

from api.deps import ActorDep, AppDep, ExpectedVersionDep, IdempotencyDep, ReadsAggregate
from api.program_schemas import (
    ApprovalIn,
    ArchiveIn,
    CapacityIn,
    EnrolmentCountsPublic,
    EnrolmentCreate,
    EnrolmentCreated,
    EnrolmentEnd,
    PopulationIn,
    ProgramCreate,
    ProgramPublic,
    PublishIn,
)
from api.routes.common import READ_ERRORS, WRITE_ERRORS, accepted
from api.routes.projects import HISTORY_LIMIT, AfterVersion, HistoryLimit, history_page
from api.schemas import CommandAccepted, HistoryPublic
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, state_headers
from domain.program import Program
from interagency.idempotency import new_id

router = APIRouter(tags=["network"])

ProgramId = Annotated[UUID, "program id"]

# Children's pseudonymous ids stay out of histories: no reader of a history needs them.
PERSONAL_FIELDS = frozenset({"child_id"})


@router.post(
    "/programs",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Draft a program of a registered provider (with partners in the network form)",
)
def draft_program(
    body: ProgramCreate, response: Response, app: AppDep, meta: ActorDep, idem: IdempotencyDep
) -> CommandAccepted:
    result = app.draft_program(
        meta,
        title=body.title,
        description=body.description,
        provider_id=body.provider_id,
        partner_ids=body.partner_ids,
        kind=body.kind.value,
        direction=None if body.direction is None else body.direction.value,
        min_age=body.min_age,
        max_age=body.max_age,
        hours=body.hours,
        capacity=body.capacity,
        form=body.form.value,
        program_id=new_id(idem, "program"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/programs/{result.aggregate_id}"
    return accepted(response, result)


@router.get(
    "/programs/{program_id}",
    response_model=ProgramPublic,
    responses=PAST_READ_ERRORS,
    summary="The program now, or as_of a moment / at a version (from its events): counts "
    "of enrolments, no child ids",
)
def get_program(
    reader: ReadsAggregate,
    program_id: ProgramId,
    app: AppDep,
    response: Response,
    at: PointInTimeDep,
) -> ProgramPublic:
    p = app.get_program(program_id, at.version, at.as_of)
    reader.check(p.municipality)
    state_headers(response, p, at)
    return program_public(p)


def program_public(p: Program) -> ProgramPublic:
    return ProgramPublic(
        id=p.id,
        version=p.version,
        title=p.title,
        description=p.description,
        provider_id=p.provider_id,
        partner_ids=p.partner_ids,
        agency=p.agency,
        municipality=p.municipality,
        kind=p.kind,
        direction=p.direction,
        min_age=p.min_age,
        max_age=p.max_age,
        hours=p.hours,
        capacity=p.capacity,
        places_left=p.places_left,
        form=p.form,
        status=p.status,
        approved_by=[t for t in p.teaching_parties if t in p.approvals],
        awaiting_approval=p.pending_approvals,
        agreement_id=p.agreement_id,
        enrolments=EnrolmentCountsPublic(
            active=p.active_enrolments, ended=p.ended_enrolments, total=len(p.enrolments)
        ),
        created_at=p.created_on,
        modified_at=p.modified_on,
    )


@router.get(
    "/programs/{program_id}/history",
    response_model=HistoryPublic,
    responses=READ_ERRORS,
    summary="The program's events in order (children's pseudonymous ids left out)",
)
def program_history(
    reader: ReadsAggregate,
    program_id: ProgramId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    reader.check(app.get_program(program_id).municipality)
    page = history_page(app, program_id, after_version, limit)
    for e in page.events:
        e.data = {k: v for k, v in e.data.items() if k not in PERSONAL_FIELDS}
    return page


@router.post(
    "/programs/{program_id}/approvals",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="A teaching party approves; the last approval approves the program",
)
def approve_program(
    program_id: ProgramId,
    body: ApprovalIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.approve_program(
            meta.because(body.reason, basis_document=body.basis_document),
            program_id,
            party_id=body.party_id,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/programs/{program_id}/publish",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Publish an approved program (a network one under an agreement in force)",
)
def publish_program(
    program_id: ProgramId,
    body: PublishIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.publish_program(
            meta.because(body.reason),
            program_id,
            agreement_id=body.agreement_id,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/programs/{program_id}/archive",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Archive the program (refused while children are enrolled)",
)
def archive_program(
    program_id: ProgramId,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
    body: ArchiveIn | None = None,
) -> CommandAccepted:
    why = body or ArchiveIn()
    return accepted(
        response,
        app.archive_program(
            meta.because(why.reason, basis_document=why.basis_document),
            program_id,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/programs/{program_id}/capacity",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Change the number of places (never below the children enrolled)",
)
def change_capacity(
    program_id: ProgramId,
    body: CapacityIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.change_program_capacity(
            meta.because(body.reason, basis_document=body.basis_document),
            program_id,
            capacity=body.capacity,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/programs/{program_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentCreated,
    responses=WRITE_ERRORS,
    summary="Enrol a child (pseudonymous id and birth year) in a published program",
)
def enrol_child(
    program_id: ProgramId,
    body: EnrolmentCreate,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> EnrolmentCreated:
    enrolment_id = new_id(idem, "enrolment")
    result = app.enrol_child(
        meta,
        program_id,
        enrolment_id=enrolment_id,
        child_id=body.child_id,
        birth_year=body.birth_year,
        territory=body.territory,
        funding_source=body.funding_source.value,
        start_date=body.start_date,
        end_date=body.end_date,
        expected_version=expected,
        idempotency=idem,
    )
    return EnrolmentCreated(**accepted(response, result).model_dump(), enrolment_id=enrolment_id)


@router.post(
    "/programs/{program_id}/enrolments/{enrolment_id}/end",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="End an active enrolment",
)
def end_enrolment(
    program_id: ProgramId,
    enrolment_id: UUID,
    body: EnrolmentEnd,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.end_enrolment(
            meta.because(body.reason),
            program_id,
            enrolment_id,
            end_date=body.end_date,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/population",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Record (or correct) a territory's children aged 5-17 for a year",
)
def record_population(
    body: PopulationIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.record_population(
            meta.because(body.reason),
            municipality=body.municipality,
            territory=body.territory,
            year=body.year,
            children_5_17=body.children_5_17,
            source=body.source,
            expected_version=expected,
            idempotency=idem,
        ),
    )
