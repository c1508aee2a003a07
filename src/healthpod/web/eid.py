"""Signing in with an e-ID: the routes around `healthpod.identity.signin`.

    GET  /login/eid/{provider}     start: the browser goes to the provider (state cookie set)
    GET  /login/eid/callback       the provider's answer: signed in, or on to the terms
    GET  /login/eid/terms          the region's terms, for someone the pod does not know yet
    POST /login/eid/terms          accept (the person is made and signed in) or decline

The callback's `state` must be the one this browser's cookie holds and one the server issued
and has not seen back yet; anything else is refused with a page saying so, and logged.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from healthpod.errors import HealthpodError
from healthpod.identity import signin
from healthpod.identity.numbers import masked
from healthpod.keys import secret_key
from healthpod.web import auth, security, session
from healthpod.web.render import gettext_for, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

STATE_COOKIE = "hp_eid_state"
JOIN_COOKIE = "hp_eid_join"
JOIN_MAX_AGE_S = 15 * 60
_JOIN_SALT = "healthpod.eid.join.v1"


def redirect_uri(request: Request) -> str:
    return f"{request.app.state.settings.public_base_url}/login/eid/callback"


def _joins(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(request.app.state.settings.home), salt=_JOIN_SALT)


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        session.cookie_name(request, name),
        value,
        max_age=max_age,
        path="/login/eid",
        httponly=True,
        samesite="lax",
        secure=session.secure(request),
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    _set_cookie(request, response, name, "", 0)


def _refused_page(request: Request, exc: HealthpodError) -> HTMLResponse:
    _ = gettext_for(request)
    response = render(
        request,
        "error.html",
        {
            "title": _("You are not signed in"),
            "message": _(exc.message),
            "hint": _(exc.hint) if exc.hint else None,
            "back": "/login",
        },
        status_code=exc.status,
    )
    _clear_cookie(request, response, STATE_COOKIE)
    return response


@router.get("/login/eid/callback", response_class=HTMLResponse)
def callback(
    request: Request,
    state: str = "",
    code: str = "",
    error: str = "",
) -> Response:
    browser_state = request.cookies.get(session.cookie_name(request, STATE_COOKIE))
    try:
        outcome = signin.complete(
            request.app.state.pod,
            state,
            code,
            redirect_uri(request),
            browser_state=browser_state,
            provider_error=error or None,
        )
    except HealthpodError as exc:
        return _refused_page(request, exc)
    if isinstance(outcome, signin.SignedIn):
        response: Response = RedirectResponse(security.safe_next(outcome.next_path), 303)
        auth.start_session(request, response, outcome.person_id)
    else:
        response = RedirectResponse("/login/eid/terms", status_code=303)
        payload: dict[str, Any] = {
            "p": outcome.provider,
            "h": outcome.value_hash,
            "e": outcome.value_encrypted,
            "n": outcome.name,
            "x": outcome.next_path,
        }
        _set_cookie(request, response, JOIN_COOKIE, _joins(request).dumps(payload), JOIN_MAX_AGE_S)
    _clear_cookie(request, response, STATE_COOKIE)
    return response


def _joining(request: Request) -> signin.NewPerson | None:
    value = request.cookies.get(session.cookie_name(request, JOIN_COOKIE))
    if not value:
        return None
    try:
        payload = _joins(request).loads(value, max_age=JOIN_MAX_AGE_S)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(payload, dict):
        return None
    return signin.NewPerson(
        provider=str(payload["p"]),
        value_hash=str(payload["h"]),
        value_encrypted=str(payload["e"]),
        name=str(payload["n"]),
        next_path=str(payload["x"]),
    )


@router.get("/login/eid/terms", response_class=HTMLResponse)
def terms_page(request: Request) -> Response:
    joining = _joining(request)
    if joining is None:
        return RedirectResponse("/login", status_code=303)
    settings = request.app.state.settings
    number = signin.keys(settings).decrypt(joining.value_encrypted)
    provider = signin.provider_named(settings, joining.provider)
    return render(
        request,
        "eid_terms.html",
        {
            "name": joining.name,
            "number": masked(number),
            "provider": provider.label,
            "terms_version": settings.terms_version,
        },
    )


@router.post("/login/eid/terms", dependencies=[Depends(security.verify_login_csrf)])
def accept_terms(request: Request, choice: Annotated[str, Form()] = "") -> Response:
    joining = _joining(request)
    if joining is None or choice != "accept":
        response = RedirectResponse("/login", status_code=303)
        _clear_cookie(request, response, JOIN_COOKIE)
        return response
    person_id = signin.join(request.app.state.pod, joining)
    response = RedirectResponse(security.safe_next(joining.next_path), status_code=303)
    auth.start_session(request, response, person_id)
    _clear_cookie(request, response, JOIN_COOKIE)
    return response


@router.get("/login/eid/{name}")
def start(request: Request, name: str, next: str = "/") -> Response:
    try:
        provider = signin.provider_named(request.app.state.settings, name)
        begun = signin.start(
            request.app.state.pod, provider, redirect_uri(request), security.safe_next(next)
        )
    except HealthpodError as exc:
        return _refused_page(request, exc)
    response = RedirectResponse(begun.url, status_code=303)
    _set_cookie(request, response, STATE_COOKIE, begun.state, int(signin.LOGIN_MAX_AGE_MS / 1000))
    return response
