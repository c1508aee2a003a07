"""Delegates on the Sharing page: give and revoke delegations, and choose whom to act for.

Giving or revoking a delegation is the person's own act: someone acting for them is refused
(the door decides `delegate`, which no role allows, and logs the refusal in the person's log).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from healthpod.consent import delegates
from healthpod.errors import HealthpodError, InvalidRequest
from healthpod.pod import now_ms
from healthpod.web import acting, security
from healthpod.web.auth import PersonDep, SelfDep, pod_of
from healthpod.web.pages.sharing import sharing_page
from healthpod.web.render import gettext_for

router = APIRouter(include_in_schema=False)
CsrfChecked = Depends(security.verify_csrf)


def _until_ms(text: str) -> int | None:
    """A date field (YYYY-MM-DD): the delegation works through that day (UTC)."""
    if not text.strip():
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(
            "The end date is not a date.", hint="Give the day as YYYY-MM-DD."
        ) from None
    return int((day + timedelta(days=1)).timestamp() * 1000)


@router.post("/sharing/delegates", dependencies=[CsrfChecked])
def add_delegate(
    request: Request,
    person: PersonDep,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "view",
    until: Annotated[str, Form()] = "",
) -> Response:
    pod = pod_of(request)
    _ = gettext_for(request)
    try:
        made = delegates.add(
            pod.engine,
            person.person_id,
            username[:200],
            role=role[:20],
            until_ms=_until_ms(until[:20]),
            now_ms=now_ms(),
            age_limit=pod.settings.guardian_age_limit,
        )
    except HealthpodError as exc:
        return sharing_page(
            request,
            person,
            errors={"delegate": _(exc.message)},
            form={"username": username[:200], "role": role[:20], "until": until[:20]},
            status_code=exc.status,
        )
    return RedirectResponse(f"/sharing?delegated={made.delegation.id}#delegates", status_code=303)


@router.post("/sharing/delegates/{delegation_id}/revoke", dependencies=[CsrfChecked])
def revoke_delegate(request: Request, delegation_id: security.RowId, person: PersonDep) -> Response:
    delegates.revoke(pod_of(request).engine, person.person_id, delegation_id, now_ms=now_ms())
    return RedirectResponse("/sharing#delegates", status_code=303)


@router.post("/acting", dependencies=[CsrfChecked])
def act_for(request: Request, me: SelfDep, person_id: Annotated[int, Form()] = 0) -> Response:
    """Choose whom to act for: one of the live delegations the signed-in person holds."""
    pod = pod_of(request)
    with pod.engine.connect() as conn:
        choices = delegates.acting_choices(
            conn, me.person_id, now_ms=now_ms(), age_limit=pod.settings.guardian_age_limit
        )
    if not any(v.delegation.person_id == person_id for v in choices):
        raise InvalidRequest(
            "You may not act for this person.",
            hint="Choose someone from the list on the Sharing page.",
        )
    response = RedirectResponse("/", status_code=303)
    acting.choose(request, response, me.person_id, person_id)
    return response


@router.post("/acting/stop", dependencies=[CsrfChecked])
def stop_acting(request: Request, me: SelfDep) -> Response:
    response = RedirectResponse("/sharing", status_code=303)
    acting.stop(request, response)
    return response
