"""The person's web app: pages, static files, security headers and error pages.

`register(app)` is listed in `healthpod.app._routers()`. Pages are server-rendered Jinja2 with a
little htmx and uPlot (vendored under static/vendor); no front-end build step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from healthpod.errors import HealthpodError
from healthpod.jobs import state
from healthpod.jobs.queue import open_queue
from healthpod.web import auth, eid, export_jobs, login, pages, session
from healthpod.web.render import gettext_for, render
from healthpod.web.security import SECURITY_HEADERS

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# Paths whose errors stay JSON (or FHIR OperationOutcome): machines call them, not people.
MACHINE_PREFIXES = (
    "/api",
    "/fhir",
    "/oauth",
    "/.well-known",
    "/healthz",
    "/openapi",
    "/docs",
    "/shl/",
    "/research/studies/",
)

Handler = Callable[[Request, Any], Awaitable[Response]]


def register(app: FastAPI) -> None:
    session.install(app)
    app.state.import_queue = open_queue(app.state.pod, app.state.settings.jobs)
    state.forget_old(app.state.pod.settings.home)
    app.state.import_queue.resume()
    app.state.export_jobs = export_jobs.ExportJobs(app.state.pod)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(login.router)
    app.include_router(eid.router)
    for router in pages.routers():
        app.include_router(router)
    _html_errors(app)


def wants_html(request: Request) -> bool:
    """A person's browser asking for a page (not an API client)."""
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "POST"


def _html_errors(app: FastAPI) -> None:
    """Errors on pages become pages in the person's language; API paths keep their JSON."""
    json_error: Handler | None = app.exception_handlers.get(HealthpodError)  # type: ignore[assignment]
    json_unexpected: Handler | None = app.exception_handlers.get(Exception)  # type: ignore[assignment]
    json_http: Handler | None = app.exception_handlers.get(StarletteHTTPException)  # type: ignore[assignment]
    json_invalid: Handler | None = app.exception_handlers.get(RequestValidationError)  # type: ignore[assignment]

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, auth.LoginRequired)
        if wants_html(request) or request.headers.get("hx-request"):
            response = RedirectResponse(exc.login_url(), status_code=303)
            if request.headers.get("hx-request"):
                response.headers["HX-Redirect"] = exc.login_url()
            return response
        return Response(status_code=401)

    async def healthpod_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HealthpodError)
        if not wants_html(request) and json_error is not None:
            return await json_error(request, exc)
        _ = gettext_for(request)
        return render(
            request,
            "error.html",
            {
                "title": _("That did not work"),
                # Our own messages are msgids; an importer's message stays as written.
                "message": _(exc.message),
                "hint": _(exc.hint) if exc.hint else None,
            },
            status_code=exc.status,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not wants_html(request) and json_http is not None:
            return await json_http(request, exc)
        _ = gettext_for(request)
        if exc.status_code == 404:
            title, message = _("Page not found"), _("There is no page at this address.")
        elif exc.status_code == 405:
            title, message = _("That did not work"), _("This page cannot be used that way.")
        else:
            title, message = _("That did not work"), _("The request could not be handled.")
        return render(
            request,
            "error.html",
            {"title": title, "message": message, "hint": None},
            status_code=exc.status_code,
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not wants_html(request) and json_unexpected is not None:
            return await json_unexpected(request, exc)
        incident = uuid.uuid4().hex[:8]
        logger.error("unexpected error incident=%s", incident, exc_info=exc)
        _ = gettext_for(request)
        response = render(
            request,
            "error.html",
            {
                "title": _("Something went wrong on our side"),
                "message": _("Your data is safe. Try again in a moment."),
                "hint": None,
                "incident": incident,
            },
            status_code=500,
        )
        response.headers.update(SECURITY_HEADERS)  # served outside every middleware
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not wants_html(request) and json_invalid is not None:
            return await json_invalid(request, exc)
        _ = gettext_for(request)
        return render(
            request,
            "error.html",
            {
                "title": _("That did not work"),
                "message": _("The address or the form has a value this page cannot use."),
                "hint": _("Go back and try again from the page's own links and forms."),
            },
            status_code=400,
        )

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(auth.LoginRequired, login_required)
    app.add_exception_handler(HealthpodError, healthpod_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
