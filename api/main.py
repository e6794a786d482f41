"""The FastAPI application factory; nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.routes import health, projects
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
    if services is not None:
        app.state.services = services
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(health.router, prefix="/api/v1")
    app.include_router(projects.router, prefix="/api/v1")
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (several workers)."""
    from interagency.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
