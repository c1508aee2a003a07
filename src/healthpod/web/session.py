"""Signed-cookie sessions for the person (web pages and the JSON API).

The cookie holds the person id and the login time, signed with the pod's secret key
(itsdangerous, which also stamps the signing time). A session ends after IDLE_TIMEOUT_S without
a request, ABSOLUTE_TIMEOUT_S after login whatever happens, or at once when the password
changes or the account is disabled. Each request that finds a valid
session older than REFRESH_AFTER_S gets a freshly stamped cookie (the middleware installed by
`install`), so an active person stays logged in. The cookie is HttpOnly, SameSite=Lax, and
Secure when the configured base URL is https.

    install(app)                                    # once, when the app is built
    set_session(request, response, person_id)       # after accounts.authenticate()
    clear_session(request, response)                # log out
    person_id: int | None = current_person(request)
    def page(person_id: PersonIdDep): ...           # require_person: AccessDenied if none
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod import accounts
from healthpod.config import Settings
from healthpod.errors import AccessDenied
from healthpod.keys import secret_key

COOKIE = "hp_session"
IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 12 * 60 * 60
REFRESH_AFTER_S = 60
_SALT = "healthpod.session.v1"
_REFRESH = "hp_session_refresh"  # scope["state"] key: a cookie header the middleware adds


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    found: URLSafeTimedSerializer | None = getattr(state, "hp_session_serializer", None)
    if found is None:
        settings: Settings = state.settings
        found = URLSafeTimedSerializer(secret_key(settings.home), salt=_SALT)
        state.hp_session_serializer = found
    return found


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return str(settings.base_url).startswith("https:")


def _cookie_header(request: Request, value: str, max_age: int) -> str:
    response = Response()
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response.headers["set-cookie"]


def set_session(request: Request, response: Response, person_id: int) -> None:
    """Log the person in: set a fresh session cookie on `response`."""
    now_ms = time.time_ns() // 1_000_000
    value = _serializer(request).dumps({"p": person_id, "iat": now_ms // 1000, "ms": now_ms})
    response.headers.append("set-cookie", _cookie_header(request, value, IDLE_TIMEOUT_S))
    request.state.hp_person_id = person_id


def clear_session(request: Request, response: Response) -> None:
    """Log out: tell the browser to drop the cookie (and stop any refresh of it)."""
    response.headers.append("set-cookie", _cookie_header(request, "", 0))
    request.scope.setdefault("state", {}).pop(_REFRESH, None)
    request.state.hp_person_id = None


def current_person(request: Request) -> int | None:
    """The person id of a valid session cookie, or None (no cookie, bad signature, timed out)."""
    cached = getattr(request.state, "hp_person_id", ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    person_id = _load(request)
    request.state.hp_person_id = person_id
    return person_id


def session_expired(request: Request) -> bool:
    """Whether the request carried a session cookie that is no longer valid."""
    return COOKIE in request.cookies and current_person(request) is None


def _load(request: Request) -> int | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        payload, signed_at = _serializer(request).loads(
            value, max_age=IDLE_TIMEOUT_S, return_timestamp=True
        )
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict):
        return None
    person_id, issued = payload.get("p"), payload.get("iat")
    if not isinstance(person_id, int) or not isinstance(issued, int):
        return None
    now = time.time()
    if now - issued > ABSOLUTE_TIMEOUT_S:
        return None
    # A disabled account, or a password changed after this login, ends the session.
    with request.app.state.pod.engine.connect() as conn:
        since_ms = accounts.sessions_valid_since(conn, person_id)
    issued_ms = payload.get("ms")
    if not isinstance(issued_ms, int):
        issued_ms = issued * 1000 + 999  # a cookie without milliseconds: the end of its second
    if since_ms is None or since_ms > issued_ms:
        return None
    if now - signed_at.timestamp() > REFRESH_AFTER_S:
        fresh = _serializer(request).dumps({"p": person_id, "iat": issued, "ms": issued_ms})
        request.scope.setdefault("state", {})[_REFRESH] = _cookie_header(
            request, fresh, IDLE_TIMEOUT_S
        )
    return person_id


def require_person(request: Request) -> int:
    """Dependency: the logged-in person's id.

    Raises:
        AccessDenied: no valid session (pages turn this into a redirect to the login page).
    """
    person_id = current_person(request)
    if person_id is None:
        raise AccessDenied(
            "You are not logged in, or your session has ended.",
            hint="Log in again (POST /api/login or the /login page).",
        )
    return person_id


PersonIdDep = Annotated[int, Depends(require_person)]
OptionalPersonIdDep = Annotated[int | None, Depends(current_person)]


class SessionRefreshMiddleware:
    """Adds the re-stamped session cookie that `current_person` prepared to the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = scope.get("state", {}).get(_REFRESH)
                if header is not None:
                    headers: list[Any] = list(message.get("headers", []))
                    already = any(
                        k.lower() == b"set-cookie" and v.startswith(COOKIE.encode() + b"=")
                        for k, v in headers
                    )
                    if not already:
                        headers.append((b"set-cookie", header.encode("latin-1")))
                        message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def install(app: FastAPI) -> None:
    """Add the refresh middleware once (safe to call from several `register` functions)."""
    if getattr(app.state, "hp_sessions_installed", False):
        return
    app.add_middleware(SessionRefreshMiddleware)
    app.state.hp_sessions_installed = True
