"""OperationOutcome: how every error under /fhir reaches a client.

The FHIR routes use `FhirRoute`, which turns our errors, FastAPI's validation errors and
anything unexpected into an OperationOutcome with the right status, so no path under /fhir
answers with a stack trace or a non-FHIR body.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod.errors import HealthpodError
from healthpod.fhir.render import Rendered

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"

_HTTP_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return encode(content)


def encode(content: Any) -> bytes:
    """Compact UTF-8 JSON.

    orjson encodes a page of 100 Observations in a tenth of the time json.dumps takes; what
    it refuses (an integer beyond 64 bits in a stored resource) goes through json.dumps,
    which writes the same JSON for the rest.
    """
    try:
        return orjson.dumps(content, default=_as_fragment)
    except TypeError:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=_as_json)
        return text.encode("utf-8")


def _as_fragment(value: Any) -> orjson.Fragment:
    if isinstance(value, Rendered):
        return orjson.Fragment(value.json)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _as_json(value: Any) -> Any:
    if isinstance(value, Rendered):
        return json.loads(value.json)
    raise TypeError(f"{type(value).__name__} is not JSON")


def operation_outcome(
    message: str, *, code: str = "invalid", severity: str = "error", hint: str | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if hint:
        issue["details"] = {"text": hint}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> FhirResponse:
    return FhirResponse(
        operation_outcome(message, code=code or _HTTP_CODES.get(status, "exception"), hint=hint),
        status_code=status,
        headers=headers,
    )


class Unauthorized(HealthpodError):
    """No valid bearer token: 401 with a WWW-Authenticate challenge."""

    status = 401
    code = "login"


class NotModified(Exception):
    """Raised for a conditional read whose version the client already has."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def error_response(exc: Exception) -> Response:
    """The OperationOutcome (or bare 304) for any exception raised under /fhir."""
    if isinstance(exc, NotModified):
        return Response(status_code=304, headers={"ETag": exc.etag})
    if isinstance(exc, Unauthorized):
        return outcome_response(
            401,
            exc.message,
            hint=exc.hint,
            headers={"WWW-Authenticate": 'Bearer realm="healthpod", error="invalid_token"'},
        )
    if isinstance(exc, HealthpodError):
        return outcome_response(exc.status, exc.message, code=exc.code, hint=exc.hint)
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}"
            for err in exc.errors()
        )
        return outcome_response(400, f"The request is not valid: {problems}")
    if isinstance(exc, HTTPException):
        return outcome_response(exc.status_code, str(exc.detail))
    incident = uuid.uuid4().hex[:8]
    logger.error("unexpected FHIR error incident=%s", incident, exc_info=exc)
    return outcome_response(
        500, f"Something went wrong on our side (incident {incident}).", code="exception"
    )


class FhirRoute(APIRoute):
    """An APIRoute whose errors come out as OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # every error leaves as an OperationOutcome
                await _write_unwritten(request, exc)
                return error_response(exc)
            await _write_unwritten(request, None)
            return response

        return handle


async def _write_unwritten(request: Request, exc: Exception | None) -> None:
    """Log every allowed decision of the request that its handler did not (it failed, or
    it sent nothing of the person's), before the answer is sent; with the error, if any."""
    from healthpod.fhir.access import unwritten

    pending = [entry for entry in unwritten(request) if not entry.written]
    if not pending:
        return
    failed = None
    if exc is not None:
        failed = exc.code if isinstance(exc, HealthpodError) else type(exc).__name__
        if isinstance(exc, NotModified):
            failed = None  # a 304 is an answer, not a failure

    def write() -> None:
        for entry in pending:
            entry.write(None, failed=failed)

    await run_in_threadpool(write)


class RoutingErrorsAsOutcomes:
    """ASGI middleware: a 404 or 405 from routing under /fhir becomes an OperationOutcome.

    Unknown paths and methods never reach a FHIR route, so `FhirRoute` cannot shape them; this
    rewrites only those plain JSON routing errors and leaves every other response alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/fhir"):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                plain = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] in (404, 405) and plain:
                    held["start"] = message
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                if message.get("more_body"):
                    return
                await _send_outcome(held["start"], scope, send)
                return
            await send(message)

        await self.app(scope, receive, send_wrapped)


async def _send_outcome(start: Message, scope: Scope, send: Send) -> None:
    status = int(start["status"])
    allow = dict(start.get("headers", [])).get(b"allow")
    path = scope["path"]
    if status == 405:
        response = outcome_response(
            405,
            f"{scope['method']} is not supported on {path}.",
            headers={"Allow": allow.decode()} if allow else None,
        )
    else:
        response = outcome_response(
            404,
            f"{path} is not something this server serves.",
            hint="See /fhir/metadata for what we support.",
        )
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
