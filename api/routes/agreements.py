"""Network agreements: drafting, signatures, activation, versioned amendments, termination.

Lists of agreements are projection reads (``api/routes/network.py``); here one agreement
is read from its events, every version of its terms included.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from api.agreement_schemas import (
    AgreementCreate,
    AgreementPublic,
    AgreementVersionPublic,
    AgreementWhy,
    AmendmentIn,
    AmendmentProposed,
    ContributionPublic,
    PartyPublic,
    SignatureIn,
    SignaturePublic,
    TerminationIn,
    TermsIn,
    TermsPublic,
)
from api.deps import (
    ActorDep,
    AppDep,
    ExpectedVersionDep,
    IdempotencyDep,
    ReadsAggregate,
    SettingsDep,
)
from api.routes.common import READ_ERRORS, WRITE_ERRORS, accepted
from api.routes.projects import HISTORY_LIMIT, AfterVersion, HistoryLimit, history_page
from api.schemas import CommandAccepted, HistoryPublic
from api.time_travel import PAST_READ_ERRORS, PointInTimeDep, state_headers
from domain.agreement import AgreementVersion, NetworkAgreement
from interagency.idempotency import new_id

router = APIRouter(prefix="/agreements", tags=["network"])

AgreementId = Annotated[UUID, "agreement id"]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Draft a network agreement (version 1 of its terms) between registered organisations",
)
def draft_agreement(
    body: AgreementCreate, response: Response, app: AppDep, meta: ActorDep, idem: IdempotencyDep
) -> CommandAccepted:
    result = app.draft_agreement(
        meta,
        number=body.number,
        title=body.title,
        municipality=body.municipality,
        terms=body.terms.as_dict(),
        agreement_id=new_id(idem, "agreement"),
        idempotency=idem,
    )
    response.headers["Location"] = f"/api/v1/agreements/{result.aggregate_id}"
    return accepted(response, result)


@router.get(
    "/{agreement_id}",
    response_model=AgreementPublic,
    responses=PAST_READ_ERRORS,
    summary="The agreement with every version of its terms and their signatures; ETag is "
    "its version",
)
def get_agreement(
    reader: ReadsAggregate,
    agreement_id: AgreementId,
    app: AppDep,
    response: Response,
    at: PointInTimeDep,
) -> AgreementPublic:
    a = app.get_agreement(agreement_id, at.version, at.as_of)
    reader.check(a.municipality)
    state_headers(response, a, at)
    return agreement_public(a)


@router.get("/{agreement_id}/history", response_model=HistoryPublic, responses=READ_ERRORS)
def agreement_history(
    reader: ReadsAggregate,
    agreement_id: AgreementId,
    app: AppDep,
    after_version: AfterVersion = 0,
    limit: HistoryLimit = HISTORY_LIMIT,
) -> HistoryPublic:
    reader.check(app.get_agreement(agreement_id).municipality)
    return history_page(app, agreement_id, after_version, limit)


@router.put(
    "/{agreement_id}/terms",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Revise the terms of the version awaiting signatures (while nobody signed it)",
)
def revise_terms(
    agreement_id: AgreementId,
    body: TermsIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.revise_agreement_draft(
            meta,
            agreement_id,
            terms=body.as_dict(),
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/{agreement_id}/signatures",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="A party signs the version awaiting signatures (all five clauses present)",
)
def sign_agreement(
    agreement_id: AgreementId,
    body: SignatureIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.sign_agreement(
            meta,
            agreement_id,
            party_id=body.party_id,
            signatory=body.signatory,
            signed_on=body.signed_on,
            version=body.version,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/{agreement_id}/activate",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Put the signed version in force: the first activates the agreement, a later "
    "one amends it; every teaching party needs an additional-education licence",
)
def activate_agreement(
    agreement_id: AgreementId,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
    body: AgreementWhy | None = None,
) -> CommandAccepted:
    why = meta if body is None else meta.because(body.reason, basis_document=body.basis_document)
    return accepted(
        response,
        app.activate_agreement(why, agreement_id, expected_version=expected, idempotency=idem),
    )


@router.post(
    "/{agreement_id}/amendments",
    response_model=AmendmentProposed,
    responses=WRITE_ERRORS,
    summary="Propose the next version of the terms of an agreement in force",
)
def propose_amendment(
    agreement_id: AgreementId,
    body: AmendmentIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> AmendmentProposed:
    result = app.propose_amendment(
        meta.because(body.reason, basis_document=body.basis_document),
        agreement_id,
        terms=body.terms.as_dict(),
        reason=body.reason,
        expected_version=expected,
        idempotency=idem,
    )
    # The agreement as this write left it (also on a replay): its pending version.
    proposed = app.get_agreement(agreement_id, result.version).pending_version
    assert proposed is not None
    return AmendmentProposed(**accepted(response, result).model_dump(), agreement_version=proposed)


@router.post(
    "/{agreement_id}/terminate",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Terminate a signed or active agreement (reason and date)",
)
def terminate_agreement(
    agreement_id: AgreementId,
    body: TerminationIn,
    response: Response,
    app: AppDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.terminate_agreement(
            meta.because(body.reason, basis_document=body.basis_document),
            agreement_id,
            reason=body.reason,
            terminated_on=body.terminated_on,
            expected_version=expected,
            idempotency=idem,
        ),
    )


@router.post(
    "/{agreement_id}/expire",
    response_model=CommandAccepted,
    responses=WRITE_ERRORS,
    summary="Record that the agreement's term ran out (only after its term end, today "
    "being the municipality's date)",
)
def expire_agreement(
    agreement_id: AgreementId,
    response: Response,
    app: AppDep,
    settings: SettingsDep,
    meta: ActorDep,
    expected: ExpectedVersionDep,
    idem: IdempotencyDep,
) -> CommandAccepted:
    return accepted(
        response,
        app.expire_agreement(
            meta,
            agreement_id,
            today=settings.today(),
            expected_version=expected,
            idempotency=idem,
        ),
    )


# -- views ------------------------------------------------------------------------------


def agreement_public(a: NetworkAgreement) -> AgreementPublic:
    return AgreementPublic(
        id=a.id,
        version=a.version,
        number=a.number,
        title=a.title,
        municipality=a.municipality,
        status=a.status,
        in_force_version=a.current_version if a.in_force else None,
        pending_version=a.pending_version,
        terminated_on=a.terminated_on,
        expired_on=a.expired_on,
        created_at=a.created_on,
        modified_at=a.modified_on,
        versions=[_version_public(a, v) for _, v in sorted(a.versions.items())],
    )


def _version_public(a: NetworkAgreement, v: AgreementVersion) -> AgreementVersionPublic:
    return AgreementVersionPublic(
        number=v.number,
        state=a.version_state(v.number),
        based_on=v.based_on,
        terms=terms_public(v.terms),
        signatures=[
            SignaturePublic(party_id=s.party_id, signatory=s.signatory, signed_on=s.signed_on)
            for s in v.signatures.values()
        ],
        unsigned_parties=a.unsigned_parties(v.number),
        missing_clauses=v.missing_clauses(),
    )


def terms_public(terms: dict[str, Any]) -> TermsPublic:
    return TermsPublic(
        parties=[PartyPublic(**p) for p in terms["parties"]],
        model=terms["model"],
        program_ids=terms["program_ids"],
        contributions=[ContributionPublic(**c) for c in terms["contributions"]],
        clauses=terms["clauses"],
        term_start=terms["term_start"],
        term_end=terms["term_end"],
    )
