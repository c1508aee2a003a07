"""Refuses a NUL character (`%00`) in a query string or a form before any route sees it.

No field of ours takes a NUL, and PostgreSQL's text cannot hold one: a `%00` in a username,
an email address or a page's filter reached the database and came back as a 500. This
middleware answers 400 instead, naming the problem, for every page, form and JSON route. It
sits inside `BodyLimit`, so a form's body is already limited and in memory when it is read
here; multipart uploads and FHIR routes (which name a NUL per parameter) pass untouched.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod.errors import InvalidRequest
from healthpod.web.body_limit import refusal_response
from healthpod.web.i18n import N_

FORM = b"application/x-www-form-urlencoded"


def _has_nul(encoded: bytes) -> bool:
    return b"%00" in encoded or b"\x00" in encoded


class RefuseNul:
    """A pure ASGI middleware: 400 for a NUL in the query string or a urlencoded form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/fhir"):
            await self.app(scope, receive, send)
            return
        if _has_nul(scope.get("query_string", b"")):
            await _refuse(scope, send)
            return
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if scope["method"] != "POST" or not content_type.lower().startswith(FORM):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if _has_nul(b"".join(m.get("body", b"") for m in messages)):
            await _refuse(scope, send)
            return
        await self.app(scope, _replay(messages, receive), send)


async def _refuse(scope: Scope, send: Send) -> None:
    refused = InvalidRequest(
        N_("The request holds a NUL character (%00), which no field here takes."),
        hint=N_("Remove it and try again."),
    )
    await refusal_response(Request(scope), refused)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
