"""Who is logged in: the web pages' view of the accounts and the signed session cookie.

Accounts, password checks, throttling and the cookie itself belong to `healthpod.accounts` and
`healthpod.web.session`; this module adapts them for pages: a page that needs a person sends
the browser to the login page and back when there is no (or an expired) session.

It also says who is asking, for the login throttle: the client's address (the peer's, or the
one a trusted reverse proxy forwarded, see `client_address`) and, for a browser that logged in
to this account before, the device id from its signed `hp_device` cookie.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from healthpod import accounts
from healthpod.errors import AccessDenied
from healthpod.keys import secret_key
from healthpod.pod import Pod, now_ms
from healthpod.store import person_settings
from healthpod.store.person_data import PersonData, for_owner
from healthpod.web import acting, i18n, localtime, security, session


@dataclass(frozen=True, slots=True)
class Acting:
    """Someone signed in as themselves, acting for another person through a delegation."""

    delegate_id: int  # who is signed in
    delegate_name: str
    person_name: str  # whom they act for


@dataclass(frozen=True, slots=True)
class WebPerson:
    """The person whose pod the page shows: the signed-in person, or the one they act for.

    `data` is the person's own door, or, when `acting` is set, the door a delegation opened
    (decided and logged, naming the delegate) for this very request.
    """

    person_id: int
    username: str
    data: PersonData
    acting: Acting | None = None


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


DEVICE_COOKIE = "hp_device"
DEVICE_MAX_AGE_S = 365 * 24 * 60 * 60
_DEVICE_SALT = "healthpod.device.v1"


def client_address(request: Request) -> str:
    """The client's IP address: the peer's, unless the peer is a trusted proxy.

    From a proxy listed in HEALTHPOD_TRUSTED_PROXIES, X-Forwarded-For is read from the right
    (the hop the proxy itself added) past every trusted proxy; the first address that is not
    one is the client. Anything left of it, or a hop that is not an address, was written by
    the client and is ignored. Without trusted proxies the header is never read.
    """
    peer = request.client.host if request.client else "unknown"
    networks = request.app.state.settings.proxy_networks
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    address = peer
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break
        if not _trusted(address, networks):
            break
    return address


def _trusted(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _devices(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    found: URLSafeTimedSerializer | None = getattr(state, "hp_device_serializer", None)
    if found is None:
        found = URLSafeTimedSerializer(secret_key(state.settings.home), salt=_DEVICE_SALT)
        state.hp_device_serializer = found
    return found


def known_device(request: Request, username: str) -> str | None:
    """The device id of this browser's signed device cookie, if it was issued for `username`."""
    value = request.cookies.get(session.cookie_name(request, DEVICE_COOKIE))
    if not value:
        return None
    try:
        payload = _devices(request).loads(value, max_age=DEVICE_MAX_AGE_S)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(payload, dict) or payload.get("u") != username.strip().casefold():
        return None
    device = payload.get("d")
    return device if isinstance(device, str) else None


def authenticate(request: Request, username: str, password: str) -> int:
    """The person id for these credentials.

    Raises:
        AccessDenied: wrong username or password, a disabled account, or too many attempts
            (the message says which and how long to wait), or passwords are turned off
            (HEALTHPOD_PASSWORD_LOGIN=false).
    """
    if not pod_of(request).settings.password_login:
        raise AccessDenied(
            "This pod signs in with e-ID only.",
            hint="Use the e-ID button on the sign-in page.",
        )
    device = known_device(request, username)
    person_id = accounts.authenticate(
        pod_of(request).engine,
        username,
        password,
        address=client_address(request),
        now_ms=now_ms(),
        device=device,
    )
    request.state.hp_login = (username.strip().casefold(), device)
    return person_id


def start_session(request: Request, response: Response, person_id: int) -> None:
    """Log in: a new server session and cookie, a new CSRF token bound to it, and (after a
    password login) the device cookie that keeps this browser out of the account's throttle."""
    session.set_session(request, response, person_id)
    security.renew_csrf(request, response)
    if i18n.LANGUAGE_COOKIE not in request.cookies:
        # The language the person chose before, on another browser too.
        pod = pod_of(request)
        with for_owner(pod.engine, pod.reads, person_id).reader() as read:
            chosen = person_settings.language_of(read)
        if chosen in i18n.LANGUAGES:
            set_language_cookie(request, response, chosen)
    login = getattr(request.state, "hp_login", None)
    if login is not None:
        username, device = login
        value = _devices(request).dumps({"u": username, "d": device or secrets.token_urlsafe(16)})
        response.set_cookie(
            session.cookie_name(request, DEVICE_COOKIE),
            value,
            max_age=DEVICE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=session.secure(request),
        )


def set_language_cookie(request: Request, response: Response, language: str) -> None:
    response.set_cookie(
        i18n.LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=security.is_https(request),
    )


def keep_language(person: WebPerson, language: str) -> None:
    """Keep the signed-in person's chosen language in their pod."""
    with person.data.writer() as write:
        person_settings.set_language_of(write, language)


def end_session(request: Request, response: Response) -> None:
    session.clear_session(request, response)


def session_person(request: Request) -> WebPerson | None:
    """The person of a valid session cookie, or None."""
    person_id = session.current_person(request)
    if person_id is None:
        return None
    # The session's check read the account with it (live, not disabled); only a session this
    # request made (a login) has the account looked up here.
    username = session.current_username(request)
    if username is None:
        with pod_of(request).engine.connect() as conn:
            account = accounts.account_for_person(conn, person_id)
        if account is None or account.disabled_ms is not None:
            return None
        username = account.username
    pod = pod_of(request)
    return WebPerson(person_id, username, for_owner(pod.engine, pod.reads, person_id))


def require_self(request: Request) -> WebPerson:
    """Dependency for pages about the signed-in person themselves (whom they act for, their
    inbox), whoever they are acting for: the person, or a redirect to the login page."""
    person = session_person(request)
    if person is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target, expired=session.session_expired(request))
    request.state.username = person.username
    acting.show_banner(request, person.person_id)
    return person


def require_person(request: Request) -> WebPerson:
    """Dependency for pages: the logged-in person (or the person they chose to act for, through
    the delegation's door), or a redirect to the login page and back."""
    person = require_self(request)
    acting_for = acting.chosen(request)
    if acting_for is not None and acting_for != person.person_id:
        person = acting.open_door(request, person, acting_for)
    with person.data.reader() as read:
        request.state.offset_min = localtime.offset_min(read)
        request.state.zone = localtime.named_zone(read)
    return person


PersonDep = Annotated[WebPerson, Depends(require_person)]
SelfDep = Annotated[WebPerson, Depends(require_self)]
