"""Browser security: response headers, CSRF tokens on every form, and same-origin POSTs.

With a session, the CSRF token is bound to it: an HMAC of the session id under the pod's
secret, so it changes at every login and dies with the session. Before login (the login form
itself) it is a double-submit token: a random value in an HttpOnly, SameSite=Lax cookie,
repeated in a hidden field; a POST must carry both, equal, and logging in replaces that cookie.
POSTs whose Origin header names another site are refused as well, so a token leaked into
another site's page is not enough. With an https base URL the cookie is `__Host-hp_csrf`.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod.errors import AccessDenied
from healthpod.keys import secret_key
from healthpod.web import session
from healthpod.web.i18n import N_

CSRF_COOKIE = "hp_csrf"
CSRF_FIELD = "csrf_token"

# No inline scripts or styles anywhere: every script is a file under /static. JS may still set
# element.style (uPlot does), which CSP does not restrict.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

# A row id in a path: a number larger than the database's integer is a 400 naming the
# parameter, never an "integer out of range" from PostgreSQL (a 500).
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]


class SecurityHeaders:
    """Adds the headers above to every response that does not set them itself, and
    `Cache-Control: no-store` to everything but the static files.

    A plain ASGI middleware: as a BaseHTTPMiddleware it cost a third of a millisecond per
    request (a task group and a memory stream around every response), the FHIR API's too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not scope["path"].startswith("/static/"):
                    # Pages and API answers carry health data: no shared or disk cache keeps it.
                    headers.setdefault("Cache-Control", "no-store")
                if is_https(Request(scope)):
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_https(request: Request) -> bool:
    """True when the browser talks TLS to us: directly, or the pod's public URL is https."""
    settings = getattr(request.app.state, "settings", None)
    configured = settings is not None and settings.base_url.scheme == "https"
    return configured or request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The token for this browser's forms: bound to its session, or the pre-login cookie's."""
    session_id = session.current_session_id(request)
    if session_id is not None:
        return _bound_token(request, session_id)
    existing = request.cookies.get(session.cookie_name(request, CSRF_COOKIE))
    if existing and len(existing) >= 32:
        return existing
    fresh = getattr(request.state, "new_csrf", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_csrf = fresh
    return str(fresh)


def _bound_token(request: Request, session_id: str) -> str:
    state = request.app.state
    key: bytes | None = getattr(state, "hp_csrf_key", None)
    if key is None:
        key = hmac.new(secret_key(state.settings.home), b"healthpod.csrf.v1", "sha256").digest()
        state.hp_csrf_key = key
    digest = hmac.new(key, session_id.encode(), "sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on `response` if this request created a new token."""
    fresh = getattr(request.state, "new_csrf", None)
    if fresh is not None:
        _set_csrf_cookie(request, response, fresh)


def renew_csrf(request: Request, response: Response) -> None:
    """At login: replace the pre-login token, so a token seen before login is worth nothing."""
    _set_csrf_cookie(request, response, secrets.token_urlsafe(32))
    request.state.new_csrf = None


def _set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        session.cookie_name(request, CSRF_COOKIE),
        value,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


async def verify_login_csrf(request: Request) -> None:
    """`verify_csrf` for the login form, whose token is always the pre-login cookie's.

    The login form is only shown without a session; a session cookie that arrives with it
    anyway (planted by another site, or from another tab) is ended by the login.

    Raises:
        AccessDenied: the token is missing or wrong, or the Origin is foreign.
    """
    await _verify(request, pre_login=True)


async def verify_csrf(request: Request) -> None:
    """Refuse a POST that lacks the form's token or comes from another site.

    (A dependency: it takes only the request, so no query parameter can change what it checks.)

    Raises:
        AccessDenied: the token is missing or wrong, or the Origin is foreign.
    """
    await _verify(request, pre_login=False)


async def _verify(request: Request, *, pre_login: bool) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and not _same_origin(origin, request):
        raise AccessDenied(
            N_("This form was sent from another site."),
            hint=N_("Open the page on this site again and send the form from there."),
        )
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    session_id = None
    if not pre_login:
        session_id = await run_in_threadpool(session.current_session_id, request)
    if session_id is not None:
        expected: str | None = _bound_token(request, session_id)
    else:
        expected = request.cookies.get(session.cookie_name(request, CSRF_COOKIE))
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise AccessDenied(
            N_("The form has expired or was not sent from this site."),
            hint=N_("Reload the page and send the form again."),
        )


def _same_origin(origin: str, request: Request) -> bool:
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.netloc == host


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, otherwise `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
