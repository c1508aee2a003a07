"""Logging in and out, and choosing the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from healthpod.errors import HealthpodError
from healthpod.web import auth, i18n, security
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)

CsrfChecked = Depends(security.verify_csrf)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", expired: int = 0, deleted: int = 0) -> Response:
    if auth.session_person(request) is not None:
        return RedirectResponse(security.safe_next(next), status_code=303)
    return render(
        request,
        "login.html",
        {
            "next": security.safe_next(next),
            "expired": bool(expired),
            "deleted": bool(deleted),
            "username": "",
            "error": None,
        },
    )


@router.post("/login", dependencies=[Depends(security.verify_login_csrf)])
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    _ = gettext_for(request)
    target = security.safe_next(next)
    if not username.strip() or not password:
        return _login_failed(request, username, target, _("Enter your username and password."))
    try:
        person_id = auth.authenticate(request, username.strip(), password)
    except HealthpodError as exc:
        # Wrong credentials, a disabled account or too many attempts: the message says which.
        return _login_failed(request, username, target, _(exc.message), status_code=exc.status)
    response = RedirectResponse(target, status_code=303)
    auth.start_session(request, response, person_id)
    return response


def _login_failed(
    request: Request, username: str, target: str, error: str, *, status_code: int = 400
) -> Response:
    return render(
        request,
        "login.html",
        {"next": target, "expired": False, "username": username, "error": error},
        status_code=status_code,
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    # Without a live session there is nothing to end (and its form's token died with it).
    if await run_in_threadpool(auth.session_person, request) is not None:
        await security.verify_csrf(request)
    response = RedirectResponse("/login", status_code=303)
    await run_in_threadpool(auth.end_session, request, response)
    return response


@router.post("/language", dependencies=[CsrfChecked])
def choose_language(
    request: Request,
    language: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    response = RedirectResponse(security.safe_next(next), status_code=303)
    if language in i18n.LANGUAGES:
        auth.set_language_cookie(request, response, language)
        # Signed in: kept for the person too, for their email digests and next sign-in.
        person = auth.session_person(request)
        if person is not None:
            auth.keep_language(person, language)
    return response
