"""Who is logged in: the web pages' view of the accounts and the signed session cookie.

Accounts, password checks, throttling and the cookie itself belong to `healthpod.accounts` and
`healthpod.web.session`; this module adapts them for pages: a page that needs a person sends
the browser to the login page and back when there is no (or an expired) session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request, Response

from healthpod import accounts
from healthpod.pod import Pod, now_ms
from healthpod.store.person_data import PersonData, for_owner
from healthpod.web import localtime, security, session


@dataclass(frozen=True, slots=True)
class WebPerson:
    """The logged-in person as pages need them."""

    person_id: int
    username: str
    data: PersonData  # the person's own door to their data


class LoginRequired(Exception):
    """No valid session: the handler sends the browser to the login page, then back."""

    def __init__(self, next_path: str, *, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired

    def login_url(self) -> str:
        query = {"next": self.next_path}
        if self.expired:
            query["expired"] = "1"
        return "/login?" + urlencode(query)


def pod_of(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


def authenticate(request: Request, username: str, password: str) -> int:
    """The person id for these credentials.

    Raises:
        AccessDenied: wrong username or password, a disabled account, or too many attempts
            (the message says which and how long to wait).
    """
    address = request.client.host if request.client else "unknown"
    return accounts.authenticate(
        pod_of(request).engine, username, password, address=address, now_ms=now_ms()
    )


def start_session(request: Request, response: Response, person_id: int) -> None:
    """Log in: a new server session and cookie, and a new CSRF token bound to it."""
    session.set_session(request, response, person_id)
    security.renew_csrf(request, response)


def end_session(request: Request, response: Response) -> None:
    session.clear_session(request, response)


def session_person(request: Request) -> WebPerson | None:
    """The person of a valid session cookie, or None."""
    person_id = session.current_person(request)
    if person_id is None:
        return None
    with pod_of(request).engine.connect() as conn:
        account = accounts.account_for_person(conn, person_id)
    if account is None or account.disabled_ms is not None:
        return None
    pod = pod_of(request)
    return WebPerson(person_id, account.username, for_owner(pod.engine, pod.reads, person_id))


def require_person(request: Request) -> WebPerson:
    """Dependency for pages: the logged-in person, or a redirect to the login page and back."""
    person = session_person(request)
    if person is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target, expired=session.session_expired(request))
    request.state.username = person.username
    with pod_of(request).engine.connect() as conn:
        request.state.offset_min = localtime.offset_min(conn, person.person_id)
        request.state.zone = localtime.named_zone(conn, person.person_id)
    return person


PersonDep = Annotated[WebPerson, Depends(require_person)]
