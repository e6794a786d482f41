"""The decisions register and action items (projections)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response

from api.deps import ReadsAnalytics, ReadsProjection, ServicesDep, SettingsDep
from api.group_schemas import (
    ActionItemRowPublic,
    ActionItemsPublic,
    ActionItemStatsListPublic,
    ActionItemStatsPublic,
    DecisionRowPublic,
    DecisionsPublic,
)
from api.routes.common import PROJECTION_READ, READ_ERRORS, Limit, MinPosition, Offset, wait_for
from domain.errors import NotFoundError
from domain.values import Mechanism

decisions = APIRouter(prefix="/decisions", tags=["decisions"])
action_items = APIRouter(prefix="/action-items", tags=["action items"])


def _decision(row: dict[str, Any]) -> DecisionRowPublic:
    return DecisionRowPublic(**{k: v for k, v in row.items() if k != "search"})


@decisions.get(
    "",
    response_model=DecisionsPublic,
    responses=PROJECTION_READ,
    summary="The decisions register: by group, project, mechanism, date and words of the text",
)
def search_decisions(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    group_id: UUID | None = None,
    project_id: UUID | None = None,
    mechanism: Mechanism | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Words of the decision or motion text")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> DecisionsPublic:
    position = wait_for(services.groups, settings, min_position, response)
    rows, total = services.groups.decisions(
        group_id=group_id,
        project_id=project_id,
        mechanism=None if mechanism is None else mechanism.value,
        date_from=date_from,
        date_to=date_to,
        text=q,
        municipality=reader.municipality(None),
        limit=limit,
        offset=offset,
    )
    return DecisionsPublic(
        items=[_decision(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@decisions.get(
    "/{decision_id}",
    response_model=DecisionRowPublic,
    responses={**READ_ERRORS, **PROJECTION_READ},
    summary="One decision with its votes (projection)",
)
def get_decision(
    reader: ReadsProjection,
    decision_id: UUID,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    min_position: MinPosition = None,
) -> DecisionRowPublic:
    wait_for(services.groups, settings, min_position, response)
    row = services.groups.get_decision(decision_id)
    if row is None:
        raise NotFoundError(f"no decision {decision_id}", id=str(decision_id))
    reader.check(services.groups.municipality_of(row["group_id"]))
    return _decision(row)


@action_items.get(
    "",
    response_model=ActionItemsPublic,
    responses=PROJECTION_READ,
    summary="Action items: all, open, overdue or done; by group",
)
def list_action_items(
    reader: ReadsProjection,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    group_id: UUID | None = None,
    status: Literal["open", "overdue", "done"] | None = None,
    today: Annotated[
        date | None, Query(description="The day 'overdue' is judged on (default: today)")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    min_position: MinPosition = None,
) -> ActionItemsPublic:
    position = wait_for(services.groups, settings, min_position, response)
    rows, total = services.groups.action_items(
        group_id=group_id,
        status=status,
        today=today or settings.today(),
        municipality=reader.municipality(None),
        limit=limit,
        offset=offset,
    )
    return ActionItemsPublic(
        items=[ActionItemRowPublic(**r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
        position=position,
    )


@action_items.get(
    "/stats",
    response_model=ActionItemStatsListPublic,
    responses=PROJECTION_READ,
    summary="Per group: open, overdue and done action items, and the completion rate",
)
def action_item_stats(
    reader: ReadsAnalytics,
    services: ServicesDep,
    settings: SettingsDep,
    response: Response,
    today: date | None = None,
    min_position: MinPosition = None,
) -> ActionItemStatsListPublic:
    position = wait_for(services.groups, settings, min_position, response)
    day = today or settings.today()
    return ActionItemStatsListPublic(
        groups=[
            ActionItemStatsPublic(
                **{
                    **r,
                    "completion_rate": None
                    if r["completion_rate"] is None
                    else float(r["completion_rate"]),
                }
            )
            for r in services.groups.action_item_stats(day, reader.municipality(None))
        ],
        today=day,
        position=position,
    )
