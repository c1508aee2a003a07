"""Browser security: response headers, CSRF tokens on every form, and same-origin POSTs.

CSRF uses a double-submit token: a random value in an HttpOnly, SameSite=Lax cookie, repeated in
a hidden field of every form; a POST must carry both, equal. POSTs whose Origin header names
another site are refused as well, so a token leaked into another site's page is not enough.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthpod.errors import AccessDenied
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


class SecurityHeaders:
    """Adds the headers above to every response that does not set them itself.

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
    """The token for this browser: the cookie's, or a new one that `remember_csrf` will set."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing
    fresh = getattr(request.state, "new_csrf", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.new_csrf = fresh
    return str(fresh)


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on `response` if this request created a new token."""
    fresh = getattr(request.state, "new_csrf", None)
    if fresh is not None:
        response.set_cookie(
            CSRF_COOKIE,
            fresh,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )


async def verify_csrf(request: Request) -> None:
    """Refuse a POST that lacks the form's token or comes from another site.

    Raises:
        AccessDenied: the token is missing or wrong, or the Origin is foreign.
    """
    origin = request.headers.get("origin")
    if origin and origin != "null" and not _same_origin(origin, request):
        raise AccessDenied(
            N_("This form was sent from another site."),
            hint=N_("Open the page on this site again and send the form from there."),
        )
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.cookies.get(CSRF_COOKIE)
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
