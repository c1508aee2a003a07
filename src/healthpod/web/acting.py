"""Acting for another person in the web app: the choice, and the door it opens per request.

A delegate signs in as themselves and chooses whom to act for (POST /acting); the choice is
a cookie naming both (`hp_acting`, "<delegate id>:<person id>"), which only chooses: every
request is decided against the delegations as they are then (`consent.access.
open_for_delegate`) and logged in the person's log with the delegate named, so a revoked
delegation or a child's birthday at the age limit refuses the very next page. Pages about
the signed-in person themselves (their inbox, whom they act for) use `auth.require_self`.
What only the person may do (settings, password, download or delete everything, the OAuth
consent screen) is refused while acting, before anything is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request, Response

from healthpod.consent import access, delegates
from healthpod.consent.delegation import DelegateAction
from healthpod.errors import AccessDenied
from healthpod.pod import now_ms
from healthpod.web import session

if TYPE_CHECKING:
    from healthpod.web.auth import WebPerson

COOKIE = "hp_acting"
PERSON_ONLY = ("/settings", "/data", "/consents")


def chosen(request: Request) -> int | None:
    """The person the signed-in delegate chose to act for, or None."""
    value = request.cookies.get(session.cookie_name(request, COOKIE), "")
    delegate, _, person = value.partition(":")
    signed_in = session.current_person(request)
    if not (delegate.isdigit() and person.isdigit()) or signed_in != int(delegate):
        return None
    return int(person)


def choose(request: Request, response: Response, delegate_id: int, person_id: int) -> None:
    response.set_cookie(
        session.cookie_name(request, COOKIE),
        f"{delegate_id}:{person_id}",
        path="/",
        httponly=True,
        samesite="lax",
        secure=session.secure(request),
    )


def stop(request: Request, response: Response) -> None:
    response.delete_cookie(session.cookie_name(request, COOKIE), path="/")


def action_of(request: Request) -> DelegateAction | None:
    """What this request would do for the person; None: only the person may do it."""
    path = request.url.path
    if path.startswith(PERSON_ONLY):
        return None
    if request.method in ("GET", "HEAD"):
        return DelegateAction.READ
    if path == "/import" or path.startswith("/import/"):
        return DelegateAction.IMPORT
    if path.startswith("/sharing/delegates"):
        return DelegateAction.DELEGATE
    if path.startswith("/sharing"):
        return DelegateAction.SHARE
    return None


def show_banner(request: Request, signed_in: int) -> None:
    """Say "acting for …" on a page about the signed-in person themselves too."""
    chosen_id = chosen(request)
    if chosen_id is None or chosen_id == signed_in:
        return
    from healthpod.web.auth import pod_of

    with pod_of(request).engine.connect() as conn:
        if not delegates.holds_any(conn, signed_in, chosen_id):
            return
        other = delegates.party(conn, chosen_id)
    if other is not None:
        request.state.acting_for = other.shown_name


def open_door(request: Request, me: WebPerson, person_id: int) -> WebPerson:
    """The person `me` acts for, through the delegation's door for this request.

    Raises:
        AccessDenied: no live delegation allows what the request does (logged), or only the
            person may do it.
    """
    from healthpod.web.auth import Acting, WebPerson, pod_of

    pod = pod_of(request)
    with pod.engine.connect() as conn:
        if not delegates.holds_any(conn, me.person_id, person_id):
            return me  # a choice that names no delegation: the person's own pages
        other = delegates.party(conn, person_id)
    if other is None:
        return me
    request.state.acting_for = other.shown_name
    action = action_of(request)
    if action is None:
        raise AccessDenied(
            f"Only {other.shown_name} can do this, not someone acting for them.",
            hint=f"Stop acting for {other.shown_name} to use your own pod.",
        )
    data = access.open_for_delegate(
        pod.engine,
        pod.reads,
        delegate_id=me.person_id,
        person_id=person_id,
        action=action,
        event=f"web.{action.value}",
        details={"path": request.url.path[:200]},
        now_ms=now_ms(),
        age_limit=pod.settings.guardian_age_limit,
    )
    return WebPerson(
        person_id, me.username, data, Acting(me.person_id, me.username, other.shown_name)
    )
