"""Replay: an aggregate's history with its state after each event.

The states are rebuilt from the stored events alone, never from a snapshot
(``interagency.timetravel.replay``), and shown through the same conversion the aggregate's
own GET uses: one converter per aggregate class in :data:`CONVERTERS`. Children's
pseudonymous ids appear in no state (the program's GET shows counts only) and are
``<redacted>`` in event data, as in the audit log. Read by auditors and admins
not limited to one municipality (docs/access-control.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from eventsourcing.utils import get_topic
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.agreement_schemas import AgreementPublic
from api.assignment_schemas import AssignmentPublic
from api.deps import AppDep, require_audit_reader
from api.group_schemas import GroupPublic
from api.organization_schemas import RegisteredOrganizationPublic
from api.program_schemas import ProgramPublic
from api.replay_schemas import ReplayPublic, ReplayStepPublic
from api.routes.agreements import agreement_public
from api.routes.assignments import assignment_public
from api.routes.common import ACCESS_ERRORS
from api.routes.groups import group_public
from api.routes.organizations import organization_public
from api.routes.programs import program_public
from api.routes.projects import project_public
from api.schemas import ActorPublic, HistoryEventPublic, ProjectPublic
from domain.agreement import NetworkAgreement
from domain.assignment import MunicipalAssignment
from domain.base import DomainAggregate, event_type_name
from domain.organization import Organization
from domain.program import Program
from domain.project import InteragencyProject
from domain.working_group import WorkingGroup
from interagency import timetravel
from interagency.pipeline import HistoryEntry
from projections.audit import aggregate_type_of, event_data, redact

router = APIRouter(
    prefix="/audit",
    tags=["audit"],
    dependencies=[Depends(require_audit_reader)],
    responses=ACCESS_ERRORS,
)

MAX_STEPS = 200


@dataclass(frozen=True)
class Converter:
    """How one aggregate class is shown: its GET's schema, built from a state at a moment."""

    schema: type[BaseModel]
    convert: Callable[[Any, datetime], BaseModel]


def _organization(o: Organization, at: datetime) -> BaseModel:
    # Licensed "on" the day of the event, as GET ?as_of= answers for that moment.
    return organization_public(o, at.astimezone(UTC).date())


# One entry per aggregate class with a public single read: the very function its GET uses.
CONVERTERS: dict[type[DomainAggregate], Converter] = {
    InteragencyProject: Converter(ProjectPublic, lambda p, _at: project_public(p)),
    WorkingGroup: Converter(GroupPublic, lambda g, _at: group_public(g)),
    MunicipalAssignment: Converter(AssignmentPublic, lambda a, _at: assignment_public(a)),
    Organization: Converter(RegisteredOrganizationPublic, _organization),
    NetworkAgreement: Converter(AgreementPublic, lambda a, _at: agreement_public(a)),
    Program: Converter(ProgramPublic, lambda p, _at: program_public(p)),
}


def event_public(entry: HistoryEntry) -> HistoryEventPublic:
    """An event as histories show it, with personal data redacted as in the audit log."""
    e = entry.event
    m = e.meta
    kind = event_type_name(e)
    return HistoryEventPublic(
        type=kind,
        version=entry.version,
        position=entry.position,
        time=e.timestamp,
        actor=ActorPublic(id=m.actor_id, role=m.actor_role, agency=m.actor_agency),
        reason=m.reason,
        basis_document=m.basis_document,
        decision_ref=m.decision_ref,
        correlation_id=m.correlation_id,
        data=redact(aggregate_type_of(get_topic(type(e))), kind, event_data(e)),
    )


@router.get(
    "/aggregates/{aggregate_id}/replay",
    response_model=ReplayPublic,
    responses={
        404: {
            "description": "Unknown id, an aggregate without a public read (indexes, "
            "idempotency records), or from_version beyond the last version (problem+json)"
        },
        422: {"description": "from_version or limit out of range (problem+json)"},
    },
    summary="Step through an aggregate's history: each event with the state right after it",
)
def replay(
    aggregate_id: UUID,
    app: AppDep,
    from_version: Annotated[
        int, Query(ge=1, le=2**31 - 1, description="The first event of the page (1 = creation)")
    ] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_STEPS, description="Events per page")] = 50,
) -> ReplayPublic:
    page = timetravel.replay(
        app,
        aggregate_id,
        from_version=from_version,
        limit=limit,
        classes=tuple(CONVERTERS),
    )
    converter = CONVERTERS[page.aggregate_class]
    steps = [
        ReplayStepPublic(
            event=event_public(entry),
            # Converted at once: the next step mutates the same aggregate.
            state=converter.convert(state, entry.event.timestamp).model_dump(mode="json"),
        )
        for entry, state in page.steps
    ]
    return ReplayPublic(
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type_of(get_topic(page.aggregate_class)),
        state_schema=converter.schema.__name__,
        last_version=page.last_version,
        from_version=from_version,
        limit=limit,
        next_from_version=page.next_from_version,
        steps=steps,
    )
