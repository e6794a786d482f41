"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.schemas import ProjectionStatusPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/health", summary="Alive: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyPublic,
    responses={503: {"description": "Database unreachable"}},
    summary="Ready: the database answers; each projection's lag behind the event log",
)
def ready(services: ServicesDep) -> ReadyPublic | JSONResponse:
    try:
        head = services.app.head_position()
        projections = [
            ProjectionStatusPublic(
                name=v.name, position=(pos := v.position()), lag_events=max(head - pos, 0)
            )
            for v in services.views
        ]
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__},
            status_code=503,
        )
    return ReadyPublic(status="ready", database="ok", head_position=head, projections=projections)
