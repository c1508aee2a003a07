"""CORS for the SMART Health Links endpoints a viewer on another origin calls, and only those.

The SMART Health Links specification has viewers fetch the manifest (`POST /shl/{token}`,
JSON, so the browser asks first with a preflight `OPTIONS`), a `U` link's file
(`GET /shl/{token}`) and a manifest's `location` URL (`GET /shl/file/{ticket}`) from whatever
origin they run on. These answer `Access-Control-Allow-Origin: *` and no credentials: the link
itself is the secret, and no cookie or token is ever sent with them. Every other path, the
viewer page and its script included, is left as it is (the pod's own CORS setting, if any).

A plain ASGI middleware, added outside the pod's CORS middleware so that a preflight from an
origin that setting does not name is still answered here.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LINK = re.compile(r"/shl/(?P<file>file/)?[A-Za-z0-9_-]+")
_NOT_LINKS = frozenset({"/shl/view"})  # the viewer page: same-origin only
ALLOW_HEADERS = "Content-Type"
MAX_AGE = "600"


def methods_for(path: str) -> str | None:
    """The methods other origins may use on `path`, or None where CORS does not apply."""
    match = _LINK.fullmatch(path)
    if match is None or path in _NOT_LINKS:
        return None
    return "GET" if match["file"] else "GET, POST"


class ShareLinkCors:
    """Answers preflights and adds `Access-Control-Allow-Origin: *` on the link endpoints."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = methods_for(scope["path"]) if scope["type"] == "http" else None
        if methods is None or scope["method"] not in ("OPTIONS", *methods.split(", ")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Content-Length": "0",
            }
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Access-Control-Allow-Origin"] = "*"
                if "Access-Control-Allow-Credentials" in headers:
                    del headers["Access-Control-Allow-Credentials"]
            await send(message)

        await self.app(scope, receive, send_with_origin)
