"""Your data: download everything as one zip, or delete everything after a confirmation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from healthpod import accounts
from healthpod.errors import HealthpodError
from healthpod.store.erase import erase_person
from healthpod.store.person_data import PersonData
from healthpod.store.row_counts import row_counts
from healthpod.web import auth, security, session
from healthpod.web.auth import PersonDep, pod_of
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)


def _counts(data: PersonData) -> dict[str, int]:
    with data.reader() as read:
        return row_counts(read)


RECENT_LOGIN_S = 15 * 60  # an e-ID account deletes only this soon after signing in


def _page(request: Request, data: PersonData, **extra: object) -> Response:
    context: dict[str, object] = {
        "counts": _counts(data),
        "errors": {},
        "eid_only": accounts.is_eid_only(pod_of(request).engine, data.person_id),
    }
    context.update(extra)
    status = 400 if extra.get("errors") else 200
    return render(request, "your_data.html", context, status_code=status)


@router.get("/data")
def your_data(request: Request, person: PersonDep) -> Response:
    return _page(request, person.data)


@router.post("/data/delete", dependencies=[CsrfChecked])
def delete_everything(
    request: Request,
    person: PersonDep,
    confirm_username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    _ = gettext_for(request)
    errors: dict[str, str] = {}
    if confirm_username.strip().casefold() != person.username:
        errors["confirm_username"] = _(
            "Type your username, %(username)s, to confirm.", username=person.username
        )
    if accounts.is_eid_only(pod_of(request).engine, person.person_id):
        # No password to ask for: the sign-in itself must be recent (a fresh e-ID sign-in).
        age = session.login_age_s(request)
        if age is None or age > RECENT_LOGIN_S:
            errors["password"] = _(
                "For your safety, sign out and sign in again with your e-ID, then delete "
                "within 15 minutes."
            )
    elif not password:
        errors["password"] = _("Enter your password to confirm.")
    else:
        try:
            confirmed = auth.authenticate(request, person.username, password)
        except HealthpodError as exc:
            errors["password"] = _(exc.message)
        else:
            if confirmed != person.person_id:
                errors["password"] = _("Wrong username or password.")
    if errors:
        return _page(request, person.data, errors=errors, open_delete=True)
    pod = pod_of(request)
    with pod.engine.begin() as conn:
        erase_person(conn, person.person_id)
    pod._person_ids.clear()  # the pod's name-to-id cache would point at the erased person
    response = RedirectResponse("/login?deleted=1", status_code=303)
    auth.end_session(request, response)
    return response
