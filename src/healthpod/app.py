"""The ASGI application: FHIR API, JSON API and web UI over one pod."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from healthpod import __version__
from healthpod.config import Settings, load_settings
from healthpod.errors import HealthpodError
from healthpod.pod import Pod
from healthpod.share.cors import ShareLinkCors
from healthpod.web.body_limit import BodyLimit
from healthpod.web.nul_text import RefuseNul
from healthpod.web.security import SECURITY_HEADERS, SecurityHeaders
from healthpod.web.turns import TakeTurns

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, pod: Pod | None = None) -> FastAPI:
    """Build the application for `settings` (opening the pod unless one is given)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Request handlers run in this many threads per process. They are mostly Python
        # work under one GIL: more threads than cores only take turns at it, and the turns
        # cost more than the requests (measured in bench/api.py).
        to_thread.current_default_thread_limiter().total_tokens = settings.server_threads
        yield
        queue = getattr(app.state, "import_queue", None)
        if queue is not None:
            queue.close()

    app = FastAPI(
        lifespan=lifespan,
        title="healthpod",
        version=__version__,
        description="The JSON API of a personal health data pod. FHIR R4 lives under /fhir.",
        docs_url=None,  # api/docs.py serves /docs from our own files, as the CSP requires
        redoc_url=None,  # ReDoc, too, would come from a third-party site
        # Starlette's slash redirect builds its Location from the Host header, so a forged Host
        # made /any/path/ an open redirect to another site; such a path is now a 404.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.pod = pod or Pod.open(settings)

    @app.exception_handler(HealthpodError)
    async def _healthpod_error(_request: Request, exc: HealthpodError) -> JSONResponse:
        return JSONResponse(
            {
                "ok": False,
                "error": exc.message,
                "hint": exc.hint,
                "code": exc.code,
                "status": exc.status,
            },
            status_code=exc.status,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:8]
        logger.error("unexpected error incident=%s", incident, exc_info=exc)
        return JSONResponse(
            {
                "ok": False,
                "error": f"Something went wrong on our side (incident {incident}).",
                "hint": None,
                "code": "exception",
                "status": 500,
            },
            status_code=500,
            # Served outside every middleware (Starlette's last resort), so it adds its own.
            headers=SECURITY_HEADERS,
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for register in _routers():
        register(app)
    if settings.cors_origins:
        # Added last, so outermost: a preflight is answered before routing or any login.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Prefer", "If-None-Match"],
            expose_headers=["Location", "Content-Location", "ETag"],
            allow_credentials=False,  # bearer tokens only: no cookie is sent cross-origin
            max_age=600,
        )
    # Outermost of all (added last): an oversized body is refused before CORS, routing, a
    # session or a token is looked at, and every response, errors and 413s included, carries
    # the security headers.
    # Inside the rest: a request that is refused early (a 413) takes no turn.
    app.add_middleware(TakeTurns, turns=settings.server_threads)
    app.add_middleware(RefuseNul)  # inside BodyLimit: reads only bodies already limited
    app.add_middleware(BodyLimit)
    # Outside those: the share link endpoints answer any origin, as the specification says,
    # their 400s and 413s included, so a viewer on another origin can read why.
    app.add_middleware(ShareLinkCors)
    app.add_middleware(SecurityHeaders)
    return app


def _routers() -> list:  # type: ignore[type-arg]
    """Each part of the app adds its routes through a `register(app)` function listed here.

    In the order a request is matched: the machine APIs first, since every request is matched
    against the routes one by one and the FHIR API is where requests come fast (the web
    pages' thirty routes before it cost a FHIR page about a twentieth of its time, measured
    in-process). OAuth before FHIR: `/fhir/.well-known/smart-configuration` would otherwise
    be taken for `/fhir/{resource_type}/{resource_id}`. No two parts share a path.
    """
    from healthpod.api import consents as consents_api
    from healthpod.api import docs as api_docs
    from healthpod.api import insights as insights_api
    from healthpod.api import research as research_api
    from healthpod.fhir import routes as fhir_routes
    from healthpod.oauth import routes as oauth_routes
    from healthpod.share import routes as share_routes
    from healthpod.web import routes as web_routes

    return [
        oauth_routes.register,
        fhir_routes.register,
        consents_api.register,
        insights_api.register,
        research_api.register,
        web_routes.register,
        api_docs.register,
        share_routes.register,
    ]


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory healthpod.app:app_from_environment`."""
    return create_app(load_settings())
