"""A limit on the bytes a request body may carry, counted as they arrive.

Every request body may hold at most `MAX_BODY_BYTES`; only an upload to the import page by a
logged-in person, or a delivery (`/fhir/$deliver`) with a valid backend token, may hold up to
the `max_upload_mb` setting. The middleware sits outside every
route, so an oversized body is answered with 413 before any CSRF check, form parsing, login
check or bearer token lookup runs:

- a declared `Content-Length` over the limit is refused without reading the body;
- any other body (chunked, or a lying length) is read here up to the limit and refused as soon
  as it passes it; a small body is then handed on from memory;
- a logged-in upload streams on to the route, and the count stops it mid-stream with
  `BodyTooLarge`, which every edge renders as its own 413.

A pure ASGI middleware (not BaseHTTPMiddleware), so an upload streams through untouched.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod.errors import InvalidRequest
from healthpod.web.i18n import N_

MAX_BODY_BYTES = 1024 * 1024  # forms, FHIR resources, OAuth requests
UPLOAD_PATHS = frozenset({"/import", DELIVERY_PATH := "/fhir/$deliver"})
_MACHINE_PREFIXES = ("/api", "/oauth", "/.well-known", "/healthz", "/shl/")


class BodyTooLarge(InvalidRequest):
    """A request body over its limit (raised while it streams in)."""

    status = 413
    code = "too-costly"


def _too_large(limit: int) -> BodyTooLarge:
    if limit > MAX_BODY_BYTES:
        return BodyTooLarge(
            N_("The upload is larger than this pod accepts."),
            hint=N_("Import the file with `healthpod import` on the server, or ask its operator."),
        )
    return BodyTooLarge(
        N_("The request body is too large."),
        hint=N_("Send less data. Only a logged-in person can upload files."),
    )


class BodyLimit:
    """Refuses request bodies over their limit with 413 (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all
            return
        limit = MAX_BODY_BYTES
        if scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS:
            limit = await _upload_limit(scope)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(scope, send, limit)
            return
        if limit > MAX_BODY_BYTES:
            await self.app(scope, _counting(receive, limit), send)
            return
        buffered = await _read_up_to(receive, limit)
        if buffered is None:
            await _refuse(scope, send, limit)
            return
        await self.app(scope, _replay(buffered, receive), send)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


async def _upload_limit(scope: Scope) -> int:
    """The large limit for a logged-in person (or a backend client's delivery), the small one
    for anyone else."""
    from healthpod.web import session

    request = Request(scope)
    if scope["path"] == DELIVERY_PATH:
        allowed = await run_in_threadpool(_backend_client, request)
    else:
        allowed = await run_in_threadpool(session.current_person, request) is not None
    if not allowed:
        return MAX_BODY_BYTES
    return int(request.app.state.settings.max_upload_mb) * 1024 * 1024


def _backend_client(request: Request) -> bool:
    import time

    from healthpod.oauth import backend

    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return False
    try:
        with request.app.state.pod.engine.connect() as conn:
            backend.find_token(conn, presented.strip(), now_ms=time.time_ns() // 1_000_000)
    except LookupError:
        return False
    return True


async def _read_up_to(receive: Receive, limit: int) -> list[Message] | None:
    """The body's messages, or None as soon as they pass `limit` bytes."""
    messages: list[Message] = []
    received = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away; the app will see it
        received += len(message.get("body", b""))
        if received > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _counting(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return counted


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    response = refusal_response(Request(scope), _too_large(limit))
    response.headers["connection"] = "close"  # the rest of the body is never read
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def refusal_response(request: Request, exc: InvalidRequest) -> Response:
    """The refusal (a 413, a 400) in the caller's dialect: OperationOutcome, JSON, or a page."""
    path = request.url.path
    if path.startswith("/fhir"):
        from healthpod.fhir.outcome import outcome_response

        return outcome_response(exc.status, exc.message, code=exc.code, hint=exc.hint)
    if path.startswith(_MACHINE_PREFIXES) or "text/html" not in request.headers.get("accept", ""):
        body: dict[str, Any] = {
            "ok": False,
            "error": exc.message,
            "hint": exc.hint,
            "code": exc.code,
            "status": exc.status,
        }
        return JSONResponse(body, status_code=exc.status)
    from healthpod.web.render import gettext_for, render

    _ = gettext_for(request)
    return render(
        request,
        "error.html",
        {"title": _("That did not work"), "message": _(exc.message), "hint": _(exc.hint or "")},
        status_code=exc.status,
    )
