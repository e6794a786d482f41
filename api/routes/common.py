"""What every router shares: write answers, read-your-writes waits, error docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from api.errors import ProjectionLaggingError
from api.schemas import CommandAccepted
from interagency.pipeline import CommandResult
from interagency.settings import Settings
from projections.runtime import ProjectionView

MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        description="Wait (briefly) until the projection has processed this event-log "
        "position, e.g. the `position` a write answered with: read your own writes.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

ACCESS_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No credential, or a refused one (problem+json)"},
    403: {"description": "The caller may not do this; names the rule (problem+json)"},
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown id (problem+json)"},
}
PROJECTION_READ: dict[int | str, dict[str, Any]] = {
    503: {"description": "min_position not reached in time (problem+json)"},
}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ACCESS_ERRORS,
    404: {"description": "Unknown id (problem+json)"},
    409: {"description": "A rule was broken or another write came first (problem+json)"},
    412: {"description": "If-Match names a stale version (problem+json)"},
    413: {"description": "The body is over INTERAGENCY_MAX_BODY_BYTES (problem+json)"},
    422: {"description": "Invalid input (problem+json)"},
}


def accepted(response: Response, result: CommandResult) -> CommandAccepted:
    """Sets ETag and X-Event-Position; marks idempotent replays."""
    response.headers["ETag"] = f'"{result.version}"'
    response.headers["X-Event-Position"] = str(result.position)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CommandAccepted(id=result.aggregate_id, version=result.version, position=result.position)


def wait_for(
    view: ProjectionView, settings: Settings, min_position: int | None, response: Response
) -> int:
    """Waits for ``min_position`` (503 if not reached in time); answers the view's position."""
    if min_position is not None and not view.wait_for(min_position, settings.read_wait_seconds):
        raise ProjectionLaggingError(view.name, min_position, view.position())
    position = view.position()
    response.headers["X-Projection-Position"] = str(position)
    return position
