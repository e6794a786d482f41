"""Pure ASGI middlewares.

``RequestContextMiddleware``: request id in, request id out, one log line per request.
``RequestLimitsMiddleware``: the limits of one request: its body's size, and how long each
SQL statement of its reads may run.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import RequestBodyTooLargeError, body_too_large
from interagency.pipeline import READ_STATEMENT_TIMEOUT_MS

log = structlog.get_logger("interagency.http")

_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            method = scope.get("method")
            log.info(
                "request",
                method=method,
                path=scope.get("path"),
                # For writes, the route's name is the command (e.g. "pass_gate").
                command=getattr(route, "name", None) if method not in ("GET", "HEAD") else None,
                status=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class RequestLimitsMiddleware:
    """Refuses bodies over ``max_body_bytes`` with 413; bounds the request's reads in time.

    A declared ``Content-Length`` over the limit is answered at once, unread. A body sent
    without one (chunked) is counted as it arrives: the read that crosses the limit raises
    ``RequestBodyTooLargeError``, which api/errors.py answers. Either way the answer is the
    same problem+json, and nothing is decided on a partial body.

    ``statement_timeout_ms`` goes into ``READ_STATEMENT_TIMEOUT_MS`` for the request (sync
    routes run in threads that copy the request's context): each read-only transaction it
    opens then runs with ``SET LOCAL statement_timeout`` (interagency/pipeline.py).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, statement_timeout_ms: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.statement_timeout_ms = statement_timeout_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await body_too_large(Request(scope), limit)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLargeError(limit)
            return message

        token = READ_STATEMENT_TIMEOUT_MS.set(self.statement_timeout_ms)
        try:
            await self.app(scope, counted_receive, send)
        finally:
            READ_STATEMENT_TIMEOUT_MS.reset(token)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # A malformed length is the server's to refuse (uvicorn answers 400).
            return int(text) if text.isdigit() else None
    return None
