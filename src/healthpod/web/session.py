"""Sessions for the person (web pages and the JSON API): a signed cookie and a server record.

The cookie holds the person id, the login time and a random session id, signed with the pod's
secret key (itsdangerous, which also stamps the signing time); the database holds the session
id's hash (`accounts.start_session`). A session ends after IDLE_TIMEOUT_S without a request,
ABSOLUTE_TIMEOUT_S after login whatever happens, and at once on logout (the record is deleted,
so a copied cookie is dead too), when the password changes or the account is disabled. Each
login makes a new session id and ends the browser's previous one. Each request that finds a
valid session older than REFRESH_AFTER_S gets a freshly stamped cookie (the middleware installed
by `install`), so an active person stays logged in. The cookie is HttpOnly, SameSite=Lax, and
with an https base URL it is Secure and named with the `__Host-` prefix (`cookie_name`), so
no other site or subdomain can set or shadow it.

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
from healthpod.store.engine import Engine

COOKIE = "hp_session"
IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 12 * 60 * 60
REFRESH_AFTER_S = 60
_SALT = "healthpod.session.v1"
_REFRESH = "hp_session_refresh"  # scope["state"] key: a cookie header the middleware adds
_COOKIE_NAMES = (f"{COOKIE}=".encode(), f"__Host-{COOKIE}=".encode())


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    found: URLSafeTimedSerializer | None = getattr(state, "hp_session_serializer", None)
    if found is None:
        settings: Settings = state.settings
        found = URLSafeTimedSerializer(secret_key(settings.home), salt=_SALT)
        state.hp_session_serializer = found
    return found


def secure(request: Request) -> bool:
    """Whether the pod's public address is https (cookies are then Secure and `__Host-`)."""
    settings: Settings = request.app.state.settings
    return str(settings.base_url).startswith("https:")


def cookie_name(request: Request, name: str) -> str:
    """`name`, with the `__Host-` prefix when the pod is served over https."""
    return f"__Host-{name}" if secure(request) else name


def _cookie_header(request: Request, value: str, max_age: int) -> str:
    response = Response()
    response.set_cookie(
        cookie_name(request, COOKIE),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    return response.headers["set-cookie"]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.pod.engine
    return engine


def set_session(request: Request, response: Response, person_id: int) -> None:
    """Log the person in: a new server session (ending this browser's previous one) and cookie."""
    now_ms = time.time_ns() // 1_000_000
    previous = _signed_payload(request, max_age=None)
    with _engine(request).begin() as conn:
        if (
            previous is not None
            and isinstance(previous.get("s"), str)
            and isinstance(previous.get("p"), int)
        ):
            accounts.end_session(conn, previous["p"], previous["s"])
        session_id = accounts.start_session(
            conn, person_id, now_ms=now_ms, max_age_ms=ABSOLUTE_TIMEOUT_S * 1000
        )
    value = _serializer(request).dumps(
        {"p": person_id, "iat": now_ms // 1000, "ms": now_ms, "s": session_id}
    )
    response.headers.append("set-cookie", _cookie_header(request, value, IDLE_TIMEOUT_S))
    request.scope.setdefault("state", {}).pop(_REFRESH, None)
    request.state.hp_person_id = person_id
    request.state.hp_session_id = session_id
    request.state.hp_username = None  # not read with this session: looked up when asked


def clear_session(request: Request, response: Response) -> None:
    """Log out: end the session on the server and tell the browser to drop the cookie."""
    payload = _signed_payload(request, max_age=None)
    if (
        payload is not None
        and isinstance(payload.get("s"), str)
        and isinstance(payload.get("p"), int)
    ):
        with _engine(request).begin() as conn:
            accounts.end_session(conn, payload["p"], payload["s"])
    response.headers.append("set-cookie", _cookie_header(request, "", 0))
    request.scope.setdefault("state", {}).pop(_REFRESH, None)
    request.state.hp_person_id = None
    request.state.hp_session_id = None
    request.state.hp_username = None


def current_person(request: Request) -> int | None:
    """The person id of a valid session cookie, or None (no cookie, bad signature, timed out)."""
    cached = getattr(request.state, "hp_person_id", ...)
    if cached is not ...:
        return cached  # type: ignore[no-any-return]
    found = _load(request)
    state = request.state
    state.hp_person_id, state.hp_session_id, state.hp_username = found or (None, None, None)
    return request.state.hp_person_id  # type: ignore[no-any-return]


def current_username(request: Request) -> str | None:
    """The username of the request's valid session as its check read it, or None (no valid
    session, or one this request made: look the account up then)."""
    if current_person(request) is None:
        return None
    return getattr(request.state, "hp_username", None)


def current_session_id(request: Request) -> str | None:
    """The id of the request's valid session (what the CSRF token is bound to), or None."""
    if current_person(request) is None:
        return None
    return getattr(request.state, "hp_session_id", None)


def login_age_s(request: Request) -> float | None:
    """Seconds since the person of this valid session signed in, or None without one."""
    if current_person(request) is None:
        return None
    payload = _signed_payload(request, max_age=IDLE_TIMEOUT_S)
    issued = None if payload is None else payload.get("iat")
    return time.time() - issued if isinstance(issued, int) else None


def session_expired(request: Request) -> bool:
    """Whether the request carried a session cookie that is no longer valid."""
    return cookie_name(request, COOKIE) in request.cookies and current_person(request) is None


def _signed_payload(request: Request, *, max_age: int | None) -> dict[str, Any] | None:
    value = request.cookies.get(cookie_name(request, COOKIE))
    if not value:
        return None
    try:
        payload, signed_at = _serializer(request).loads(
            value, max_age=max_age, return_timestamp=True
        )
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict):
        return None
    return {**payload, "_signed_at": signed_at.timestamp()}


def _load(request: Request) -> tuple[int, str, str] | None:
    payload = _signed_payload(request, max_age=IDLE_TIMEOUT_S)
    if payload is None:
        return None
    person_id, issued, session_id = payload.get("p"), payload.get("iat"), payload.get("s")
    if not isinstance(person_id, int) or not isinstance(issued, int):
        return None
    if not isinstance(session_id, str):
        return None  # a cookie from before server-side sessions: log in again
    now = time.time()
    if now - issued > ABSOLUTE_TIMEOUT_S:
        return None
    # Logged out, a disabled account, or a password changed after this login: ended.
    with _engine(request).connect() as conn:
        username = accounts.session_username(conn, person_id, session_id)
    if username is None:
        return None
    if now - payload["_signed_at"] > REFRESH_AFTER_S:
        fresh = _serializer(request).dumps(
            {"p": person_id, "iat": issued, "ms": payload.get("ms"), "s": session_id}
        )
        request.scope.setdefault("state", {})[_REFRESH] = _cookie_header(
            request, fresh, IDLE_TIMEOUT_S
        )
    return person_id, session_id, username


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
                        k.lower() == b"set-cookie" and v.startswith(_COOKIE_NAMES)
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
