"""Settings: language, the order of sources (which counts first where they overlap), password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from healthpod import accounts
from healthpod.errors import HealthpodError
from healthpod.insights import sources, summaries
from healthpod.web import auth, security, session
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)


def _page(
    request: Request,
    person_id: int,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    with pod_of(request).engine.connect() as conn:
        found = sources.list_sources(conn, person_id)
    return render(
        request,
        "settings.html",
        {"sources": found, "errors": errors or {}, "notice": notice, "current": language(request)},
        status_code=400 if errors else 200,
    )


@router.get("/settings")
def settings_page(request: Request, person: PersonDep) -> Response:
    _ = gettext_for(request)
    notices = {
        "sources": _("The order of your sources is saved; your statistics are recomputed."),
        "password": _("Your password is changed."),
    }
    return _page(
        request, person.person_id, notice=notices.get(request.query_params.get("saved", ""))
    )


@router.post("/settings/sources", dependencies=[CsrfChecked])
def move_source(
    request: Request,
    person: PersonDep,
    source_id: Annotated[str, Form()] = "",
    position: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(request)
    try:
        wanted = int(position)
    except ValueError:
        return _page(
            request, person.person_id, errors={"sources": _("Choose a position from the list.")}
        )
    with pod_of(request).engine.begin() as conn:
        changed = sources.set_priority(conn, person.person_id, source_id, wanted)
        if changed:
            summaries.refresh_person(conn, person.person_id)
    return RedirectResponse("/settings?saved=sources", status_code=303)


@router.post("/settings/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    person: PersonDep,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
    repeat: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(request)
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = _("Enter your current password.")
    if len(new) < accounts.MIN_PASSWORD_LENGTH:
        errors["new"] = _("Use at least %(count)s characters.", count=accounts.MIN_PASSWORD_LENGTH)
    elif new != repeat:
        errors["repeat"] = _("The two new passwords are not the same.")
    if not errors:
        try:
            auth.authenticate(request, person.username, current)
        except HealthpodError as exc:
            errors["current"] = _(exc.message)
    if errors:
        return _page(request, person.person_id, errors=errors)
    with pod_of(request).engine.begin() as conn:
        accounts.set_password(conn, person.person_id, new)
    # A new password ends every earlier session; this browser gets a fresh one.
    response = RedirectResponse("/settings?saved=password", status_code=303)
    session.set_session(request, response, person.person_id)
    return response
