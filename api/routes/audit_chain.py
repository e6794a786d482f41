"""Tamper evidence: the hash chain over the log, signed checkpoints, verification, export.

The chain and its checkpoints are kept by the chain process (``projections/chain.py``);
these routes only read. Verification recomputes the chain from the events table for at
most ``MAX_SPAN`` positions per request (422 beyond; follow ``next_from`` for the rest),
reading in chunks so memory stays flat. An export is built in memory, so it is bounded more
tightly (``EXPORT_MAX_SPAN``); the CLI exports any range. Read by auditors and admins
not limited to one municipality (docs/access-control.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.audit_chain_schemas import AuditDigestPublic, AuditVerifyPublic
from api.deps import ServicesDep, require_audit_reader
from api.routes.common import ACCESS_ERRORS
from domain.errors import NotFoundError
from projections.chain import EXPORT_MAX_SPAN, MAX_SPAN

router = APIRouter(
    prefix="/audit",
    tags=["audit"],
    dependencies=[Depends(require_audit_reader)],
    responses=ACCESS_ERRORS,
)

RANGE_ERRORS: dict[int | str, dict[str, object]] = {
    422: {"description": f"from after to, or a range of more than {MAX_SPAN:,} positions"},
}


@router.get(
    "/verify",
    response_model=AuditVerifyPublic,
    responses=RANGE_ERRORS,
    summary="Recompute the hash chain from the stored events; the first broken position",
)
def verify(
    services: ServicesDep,
    from_position: Annotated[
        int, Query(alias="from", ge=1, le=2**63 - 1, description="First position (default 1)")
    ] = 1,
    to_position: Annotated[
        int | None,
        Query(
            alias="to",
            ge=1,
            le=2**63 - 1,
            description=f"Last position; default the log's end, at most {MAX_SPAN:,} "
            "positions after from",
        ),
    ] = None,
) -> AuditVerifyPublic:
    """Each stored event in the range is hashed again and compared with the chain: an
    altered event, a deleted row or a row inserted behind the chain's back is reported at
    its position, and every signed checkpoint in the range must match the recomputed chain.
    Events after the chain's position are counted as ``unchained_events``, not judged."""
    return AuditVerifyPublic.of(services.audit_chain.verify(from_position, to_position))


@router.get(
    "/digest",
    response_model=AuditDigestPublic,
    responses={404: {"description": "No checkpoint signed yet (problem+json)"}},
    summary="The latest signed checkpoint of the chain, with the public key to check it",
)
def digest(services: ServicesDep) -> AuditDigestPublic:
    """Publish this elsewhere (a newspaper, another agency, a timestamping service): history
    up to ``position`` can then not be rewritten unnoticed, even by whoever holds the key."""
    checkpoint = services.audit_chain.latest_checkpoint()
    if checkpoint is None:
        raise NotFoundError("the audit chain has no signed checkpoint yet")
    return AuditDigestPublic.of(checkpoint)


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "The evidence file (canonical JSON; check it with "
            "'interagency audit verify FILE')",
        },
        404: {"description": "No chain entries in the range (problem+json)"},
        409: {"description": "The chain or a signed checkpoint does not reach the range's end"},
        422: {
            "description": f"from after to, or a range of more than {EXPORT_MAX_SPAN:,} "
            "positions (export longer ranges with 'interagency audit export')"
        },
    },
    summary="Evidence for a range: its events, chain entries and a signed checkpoint",
)
def export(
    services: ServicesDep,
    from_position: Annotated[int, Query(alias="from", ge=1, le=2**63 - 1)] = 1,
    to_position: Annotated[
        int | None,
        Query(
            alias="to",
            ge=1,
            le=2**63 - 1,
            description=f"Default: the chain's position, at most {EXPORT_MAX_SPAN:,} positions "
            "after from",
        ),
    ] = None,
) -> Response:
    found = services.audit_chain.evidence(from_position, to_position, max_span=EXPORT_MAX_SPAN)
    first, last = found.entries[0].position, found.entries[-1].position
    return Response(
        content=found.canonical_bytes(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="audit-evidence-{first}-{last}.json"'
        },
    )
