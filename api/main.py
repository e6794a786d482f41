"""The FastAPI application factory; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from api.errors import PROBLEM_JSON, install_error_handlers
from api.middleware import RequestContextMiddleware, RequestLimitsMiddleware
from api.routes import (
    admin,
    agreements,
    analytics,
    assignments,
    audit_chain,
    audit_log,
    audit_replay,
    decisions,
    groups,
    health,
    network,
    organizations,
    programs,
    projects,
)
from api.schemas import ProblemPublic
from interagency.jwt_auth import JWTVerifier
from interagency.services import Services
from interagency.settings import Settings
from interagency.storage import Database

log = structlog.get_logger("interagency.api")

DESCRIPTION = """
Interagency coordination of the municipal network of additional education for children.

Writes answer with the aggregate's new `version` (also in the `ETag` header) and the
`position` of the last event in the global log. Send `If-Match` to refuse a write on a
stale version (412), `Idempotency-Key` to make a retried write happen once, and
`min_position` on projection reads to see your own writes.

Errors are `application/problem+json` (RFC 9457).
"""


# In this order: projection reads with fixed paths (/programs/summary) come before the
# routers whose paths take an {id} there.
API_ROUTERS = (
    health.router,
    projects.router,
    groups.router,
    decisions.decisions,
    decisions.action_items,
    assignments.assignments,
    assignments.redistributions,
    network.router,
    organizations.router,
    programs.router,
    agreements.router,
    audit_log.router,
    audit_replay.router,
    audit_chain.router,
    admin.router,
    analytics.router,
)


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    run_worker: bool = False,
) -> FastAPI:
    """Builds the API.

    Given ``services``, the API uses them and owns nothing (tests, ``serve``). Otherwise
    its lifespan connects (or starts the embedded PostgreSQL), and closes on shutdown.
    Tables must already exist: ``interagency migrate`` (or ``serve``) creates them.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database: Database | None = None
        own = services is None
        if services is None:
            database = Database(settings)
            params = database.start()
            app.state.services = Services(settings, params)
        else:
            app.state.services = services
        worker = app.state.services.worker() if run_worker else None
        if worker is not None:
            worker.start()
        log.info("api_started", worker=run_worker)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if own:
                app.state.services.close()
            if database is not None:
                database.stop()
            log.info("api_stopped")

    app = FastAPI(
        title="interagency",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    # Built once: a wrong JWT configuration stops the start, never a request.
    app.state.jwt_verifier = JWTVerifier.from_settings(settings)
    if services is not None:
        app.state.services = services
    # Added first, so it runs inside the request context (request id, log line).
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Declares every 4xx/5xx answer as ``application/problem+json`` in the OpenAPI schema.

    FastAPI would describe them as ``application/json`` (and its 422 with its own body);
    our answers are problem details, so the schema says so.
    """
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = ProblemPublic.model_json_schema()
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, path_item in schema.get("paths", {}).items():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                # Every authenticated route can refuse the credential (401) or the caller
                # (403), and every route of the API can find its database gone (503).
                if operation.get("security"):
                    responses.setdefault("401", {"description": "No valid credential"})
                    responses.setdefault("403", {"description": "Not permitted"})
                if path.startswith("/api/"):
                    responses.setdefault("503", {"description": "Database unavailable"})
                for code, response in responses.items():
                    if code[0] in "45":
                        response["content"] = problem_content
                        if code == "422":
                            response["description"] = "Invalid input (problem+json)"
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (several workers)."""
    from interagency.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
