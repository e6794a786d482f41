"""Every error the API can answer, mapped in one place to RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import DataError, OperationalError, PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RuleViolationError,
    StaleVersionError,
    ValidationError,
)
from interagency.auth import AuthenticationError, AuthFailure, PermissionDeniedError

log = structlog.get_logger("interagency.api")

PROBLEM_JSON = "application/problem+json"


class ProjectionLaggingError(Exception):
    """A read asked for ``min_position`` and the projection did not reach it in time (503)."""

    def __init__(self, projection: str, wanted: int, reached: int) -> None:
        super().__init__(f"projection {projection!r} is at {reached}, not yet at {wanted}")
        self.projection = projection
        self.wanted = wanted
        self.reached = reached


class BadHeaderError(Exception):
    def __init__(self, header: str, detail: str) -> None:
        super().__init__(detail)
        self.header = header
        self.detail = detail


class RequestBodyTooLargeError(StarletteHTTPException):
    """A request body beyond ``INTERAGENCY_MAX_BODY_BYTES`` (413).

    An ``HTTPException``, so that FastAPI passes it on unchanged when reading the body
    raises it (api/middleware.py counts the bytes as they arrive).
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


_STATUS: list[tuple[type[DomainError], int]] = [
    (ValidationError, 422),
    (IdempotencyKeyReusedError, 422),
    (NotFoundError, 404),
    (StaleVersionError, 412),
    (ConcurrencyConflictError, 409),
    (RuleViolationError, 409),
]


def status_for(exc: DomainError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 409


def problem(
    request: Request,
    status: int,
    *,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}" if code != "about:blank" else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_for(exc)
    extra = dict(exc.extra)
    return problem(request, status, code=exc.code, title=exc.title, detail=exc.detail, **extra)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        errors.append(
            {
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
                "location": loc[0] if loc else None,
                "message": err.get("msg"),
                "type": err.get("type"),
            }
        )
    fields = ", ".join(e["field"] or "body" for e in errors)
    return problem(
        request,
        422,
        code="invalid-input",
        title="Invalid input",
        detail=f"the request has invalid fields: {fields}",
        errors=errors,
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot even decode (not UTF-8): a user mistake
        # like malformed JSON, so the same 422 as malformed JSON.
        return problem(
            request,
            422,
            code="invalid-input",
            title="Invalid input",
            detail=f"the request body cannot be read: {exc.detail}",
            errors=[{"field": "", "location": "body", "message": str(exc.detail)}],
        )
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem(
        request,
        exc.status_code,
        code="about:blank",
        title=title,
        detail=str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthenticationError)
    # RFC 6750: no credential gets a bare challenge; a refused one says invalid_token.
    challenge = 'Bearer realm="interagency"'
    if exc.reason is not AuthFailure.MISSING:
        challenge += ', error="invalid_token"'
    return problem(
        request,
        401,
        code="authentication-required"
        if exc.reason is AuthFailure.MISSING
        else "authentication-failed",
        title="Authentication required"
        if exc.reason is AuthFailure.MISSING
        else "Authentication failed",
        detail=exc.detail,
        headers={"WWW-Authenticate": challenge},
        reason=exc.reason.value,
    )


def _permission_denied(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PermissionDeniedError)
    log.info("permission_denied", rule=exc.rule, detail=exc.detail)
    return problem(
        request,
        403,
        code="permission-denied",
        title="Permission denied",
        detail=exc.detail,
        rule=exc.rule,
    )


def _bad_header(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadHeaderError)
    return problem(
        request,
        422,
        code="invalid-input",
        title="Invalid input",
        detail=exc.detail,
        errors=[{"field": exc.header, "location": "header", "message": exc.detail}],
    )


def _lagging(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProjectionLaggingError)
    return problem(
        request,
        503,
        code="projection-lagging",
        title="Projection not yet up to date",
        detail=str(exc),
        headers={"Retry-After": "1"},
        projection=exc.projection,
        min_position=exc.wanted,
        position=exc.reached,
    )


def body_too_large(request: Request, max_bytes: int) -> JSONResponse:
    """The 413 answer; the middleware sends it directly when Content-Length is too large."""
    return problem(
        request,
        413,
        code="body-too-large",
        title="Request body too large",
        detail=f"the request body is larger than {max_bytes} bytes",
        max_bytes=max_bytes,
    )


def _body_too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestBodyTooLargeError)
    return body_too_large(request, exc.max_bytes)


def _statement_timed_out(exc: BaseException) -> bool:
    """Whether PostgreSQL cancelled the statement (``statement_timeout``), at any depth."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.errors.QueryCanceled):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if _statement_timed_out(exc):
        log.warning("statement_timeout", error=str(exc))
        return problem(
            request,
            503,
            code="statement-timeout",
            title="Query took too long",
            detail="the database cancelled a query that ran longer than the statement "
            "timeout; retry shortly, or narrow the request",
            headers={"Retry-After": "2"},
        )
    log.error("database_unavailable", error=str(exc))
    return problem(
        request,
        503,
        code="database-unavailable",
        title="Database unavailable",
        detail="the database cannot be reached; retry shortly",
        headers={"Retry-After": "2"},
    )


def _bad_value(request: Request, exc: Exception) -> JSONResponse:
    """PostgreSQL refused a value the request carried (NUL in text, a number out of range).

    The database is up and the value came from the caller: a 422, not an outage (503).
    """
    log.info("database_refused_value", error=str(exc))
    return problem(
        request,
        422,
        code="invalid-input",
        title="Invalid input",
        detail="the request carries a value the database cannot hold "
        "(a NUL character in text, or a number out of range)",
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem(
        request,
        500,
        code="internal-error",
        title="Internal error",
        detail="an unexpected error occurred; it has been logged with this request id",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestBodyTooLargeError, _body_too_large)
    app.add_exception_handler(AuthenticationError, _auth_error)
    app.add_exception_handler(PermissionDeniedError, _permission_denied)
    app.add_exception_handler(BadHeaderError, _bad_header)
    app.add_exception_handler(ProjectionLaggingError, _lagging)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PersistenceError, _database_unavailable)
    app.add_exception_handler(DataError, _bad_value)
    app.add_exception_handler(psycopg.DataError, _bad_value)
    app.add_exception_handler(psycopg.errors.QueryCanceled, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
