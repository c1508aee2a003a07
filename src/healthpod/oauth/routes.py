"""SMART App Launch endpoints: authorize (with the consent screen), token, revocation and
introspection. Discovery and the id_token keys are in `discovery.py`.

    GET  /oauth/authorize                   check, log the person in, show the consent form
    POST /oauth/authorize                   the person's decision: allow (maybe narrowed) or deny
    POST /oauth/token                       authorization_code and refresh_token grants
    POST /oauth/revoke                      RFC 7009
    POST /oauth/introspect                  RFC 7662
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Error
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse

from healthpod.consent import access, delegates
from healthpod.consent import store as consent_store
from healthpod.consent.actors import Actor
from healthpod.consent.audit import DoneBy
from healthpod.consent.delegation import DelegateAction
from healthpod.consent.model import Granularity, Scope
from healthpod.errors import AccessDenied, HealthpodError, InvalidRequest
from healthpod.oauth import backend, discovery, tokens
from healthpod.oauth.consent_form import parse_choice, requested
from healthpod.oauth.scopes import granted, parse_scopes
from healthpod.oauth.server import Client, Grant, PodAuthorizationServer, PodRequest
from healthpod.pod import Pod
from healthpod.store.person_data import PersonData, for_owner
from healthpod.store.restrictions import Counts
from healthpod.web import acting, localtime, security, session
from healthpod.web.render import render

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 64 * 1024


def _pod(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


def _now_ms(pod: Pod) -> int:
    return int(pod.now().timestamp() * 1000)


def _base(pod: Pod) -> str:
    return pod.settings.public_base_url


def _server(conn: Any, pod: Pod, now_ms: int) -> PodAuthorizationServer:
    base = _base(pod)
    return PodAuthorizationServer(conn, now_ms=now_ms, issuer=base, fhir_base=f"{base}/fhir")


# --- authorize ----------------------------------------------------------------------------


def _query_pairs(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


def _oauth_request(request: Request, pod: Pod, pairs: list[tuple[str, str]]) -> PodRequest:
    uri = _base(pod) + request.url.path
    if request.url.query:
        uri += "?" + request.url.query
    return PodRequest(request.method, uri, request.headers, pairs)


_PRINTABLE_URI = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]*")


class _Refused(Exception):
    """An authorize request we must not redirect for: shown to the person as a page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _validate(conn: Any, pod: Pod, oauth_request: PodRequest, now_ms: int) -> Any:
    """Authlib's checks plus ours (state, aud, a useful scope); returns the grant.

    Raises:
        _Refused: the client or redirect URI is wrong (never redirect to an unchecked URI).
        OAuth2Error: with `redirect_uri` set, to send back to the client.
    """
    server = _server(conn, pod, now_ms)
    data = oauth_request.payload.data
    if not _PRINTABLE_URI.fullmatch(data.get("redirect_uri") or ""):
        # Quotes, backslashes, controls or non-ASCII: no registered URI holds them (see
        # actors.check_redirect_uri), and Authlib cannot even word its refusal of one.
        raise _Refused("This app asked to return to an address it has not registered.")
    if not _PRINTABLE_URI.fullmatch(data.get("response_type") or ""):
        raise _Refused("This app asked for a response_type this server does not know.")
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=None)
    except OAuth2Error as error:
        if not error.redirect_uri:
            raise _Refused(error.get_error_description() or error.error) from error
        raise
    data = oauth_request.payload.data
    redirect_uri = grant.redirect_uri or data.get("redirect_uri")
    for name in ("state", "aud", "scope"):
        if len(oauth_request.payload.datalist.get(name, [])) > 1:
            raise InvalidRequestError(f"Repeated '{name}' parameter.", redirect_uri=redirect_uri)
    if not data.get("state"):
        raise InvalidRequestError("Missing 'state' parameter.", redirect_uri=redirect_uri)
    aud = (data.get("aud") or "").rstrip("/")
    if aud != f"{_base(pod)}/fhir":
        raise InvalidRequestError(
            f"'aud' must be this server's FHIR base URL, {_base(pod)}/fhir.",
            redirect_uri=redirect_uri,
            state=data.get("state"),
        )
    if not parse_scopes(data.get("scope")).resources:
        raise InvalidScopeError(
            "Ask for at least one data scope, such as patient/Observation.rs.",
            redirect_uri=redirect_uri,
            state=data.get("state"),
        )
    return grant


def _redirect_error(error: OAuth2Error, state: str | None) -> Response:
    if state and not error.state:
        error.state = state
    status, _body, headers = error()
    return Response(status_code=status, headers=dict(headers))


def _refused_page(request: Request, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"title": "This app's request cannot be used", "message": message, "hint": None},
        status_code=400,
    )


@router.get("/oauth/authorize", tags=["smart"], response_class=Response)
def authorize_page(request: Request) -> Response:
    """Check the app's request, make sure the person is logged in, and show the consent form."""
    pod = _pod(request)
    now_ms = _now_ms(pod)
    oauth_request = _oauth_request(request, pod, _query_pairs(request))
    with pod.engine.connect() as conn:
        try:
            grant = _validate(conn, pod, oauth_request, now_ms)
        except _Refused as refused:
            return _refused_page(request, refused.message)
        except OAuth2Error as error:
            return _redirect_error(error, oauth_request.payload.state)
        person_id = session.current_person(request)
        if person_id is None:
            target = request.url.path + "?" + request.url.query
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        client: Client = grant.client
        _person, own, _fhir_user = _whose(request, pod, person_id, now_ms=now_ms)
        zone = localtime.zone_of(own)
        with own.reader() as read:
            restricted = read.restriction_counts()
        response = _consent_page(
            request, client.actor, oauth_request.payload.data, zone.label, restricted=restricted
        )
    response.headers.update(NO_STORE)
    return response


def _whose(
    request: Request, pod: Pod, signed_in: int, *, now_ms: int
) -> tuple[int, PersonData, str | None]:
    """Whom an app asks for access to: the signed-in person, or the person they chose to act
    for (a delegate with the manage role may grant consents for them: decided and logged in
    that person's log), and how `fhirUser` names who launched it (None: the Patient).

    Raises:
        AccessDenied: the delegation does not allow managing sharing (logged).
    """
    chosen = acting.chosen(request)
    if chosen is not None and chosen != signed_in:
        with pod.engine.connect() as conn:
            held = delegates.holds_any(conn, signed_in, chosen)
        if held:
            data = access.open_for_delegate(
                pod.engine,
                pod.reads,
                delegate_id=signed_in,
                person_id=chosen,
                action=DelegateAction.SHARE,
                event="oauth.authorize",
                details={"path": request.url.path},
                now_ms=now_ms,
                age_limit=pod.settings.guardian_age_limit,
            )
            request.state.acting_for = _shown_name(pod, chosen)
            delegation = (data.accessor.via or "").rpartition("/")[2]
            return chosen, data, f"RelatedPerson/delegate-{delegation}"
    return signed_in, for_owner(pod.engine, pod.reads, signed_in), None


def _shown_name(pod: Pod, person_id: int) -> str:
    with pod.engine.connect() as conn:
        found = delegates.party(conn, person_id)
    return found.shown_name if found is not None else str(person_id)


def _consent_page(
    request: Request,
    actor: Actor,
    data: dict[str, str],
    zone_label: str,
    *,
    error: str | None = None,
    restricted: Counts | None = None,
) -> Response:
    scopes = parse_scopes(data.get("scope"))
    asked = requested(scopes)
    purpose = actor.coded_purpose
    return render(
        request,
        "authorize.html",
        {
            "actor": actor,
            "purpose": purpose,
            "asked": asked,
            "offline": scopes.offline,
            "action": request.url.path + "?" + request.url.query,
            "zone": zone_label,
            "error": error,
            "restricted": restricted,
        },
        status_code=400 if error else 200,
    )


@router.post("/oauth/authorize", tags=["smart"], response_class=Response)
async def authorize_decision(request: Request) -> Response:
    """The person's answer: `decision=allow` (with any narrowing) or `decision=deny`."""
    _check_form(request)
    await security.verify_csrf(request)
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return await run_in_threadpool(_decide, request, fields)


def _decide(request: Request, fields: list[tuple[str, str]]) -> Response:
    pod = _pod(request)
    now_ms = _now_ms(pod)
    person_id = session.current_person(request)
    if person_id is None:
        raise AccessDenied(
            "You are not logged in, or your session has ended.",
            hint="Open the app's link again and log in.",
        )
    oauth_request = _oauth_request(request, pod, _query_pairs(request))
    decision = dict(fields).get("decision")
    person_id, data, fhir_user = _whose(request, pod, person_id, now_ms=now_ms)
    zone = localtime.zone_of(data)
    with pod.engine.begin() as conn:
        tokens.begin_writing(conn)
        try:
            grant = _validate(conn, pod, oauth_request, now_ms)
        except _Refused as refused:
            return _refused_page(request, refused.message)
        except OAuth2Error as error:
            return _redirect_error(error, oauth_request.payload.state)
        client: Client = grant.client
        server = grant.server
        scopes = parse_scopes(oauth_request.payload.data.get("scope"))
        if decision != "allow":
            server.log(
                person_id,
                client.actor.id,
                "oauth.denied",
                "ok",
                f"the person said no to {client.actor.name}",
                done_by=DoneBy.PERSON,
            )
            status, _body, headers = grant.server.create_authorization_response(
                oauth_request, grant_user=None, grant=grant
            )
            return Response(status_code=status, headers=dict(headers))
        try:
            choice = parse_choice(fields, requested(scopes), now_ms=now_ms, zone=zone.tz)
        except InvalidRequest as exc:
            return _consent_page(
                request, client.actor, oauth_request.payload.data, zone.label, error=exc.message
            )
        consent = consent_store.grant(
            conn,
            person_id,
            client.actor.id,
            choice.scope,
            valid_until_ms=choice.valid_until_ms,
            now_ms=now_ms,
        )
        actions = frozenset(a.value for a in choice.scope.actions)
        given = granted(scopes, choice.scope.categories, actions)
        user = Grant(
            person_id,
            consent.id,
            given.text(),
            oauth_request.payload.data.get("nonce"),
            fhir_user,
        )
        status, _body, headers = server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
    return Response(status_code=status, headers=dict(headers))


def _check_form(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise InvalidRequest("The form is too large.", hint="Send a normal-sized form.")


# --- token, revoke, introspect ------------------------------------------------------------


async def _form_pairs(request: Request) -> list[tuple[str, str]] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    _check_form(request)
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


def _oauth_json(status: int, body: Any, headers: list[tuple[str, str]]) -> JSONResponse:
    merged = {k: v for k, v in headers if k.lower() != "content-type"}
    merged.update(NO_STORE)
    return JSONResponse(body if body != "" else {}, status_code=status, headers=merged)


def _bad_body() -> JSONResponse:
    return JSONResponse(
        {
            "error": "invalid_request",
            "error_description": "Send the parameters as application/x-www-form-urlencoded.",
        },
        status_code=400,
        headers=NO_STORE,
    )


async def _endpoint(request: Request, run: str) -> JSONResponse:
    pairs = await _form_pairs(request)
    if pairs is None:
        return _bad_body()
    pod = _pod(request)
    if run == "token" and dict(pairs).get("grant_type") == "client_credentials":
        return await run_in_threadpool(_backend_token, pod, pairs)
    oauth_request = _oauth_request(request, pod, pairs)

    def work() -> JSONResponse:
        now_ms = _now_ms(pod)
        with pod.engine.begin() as conn:
            tokens.begin_writing(conn)
            server = _server(conn, pod, now_ms)
            if run == "token":
                result = server.create_token_response(oauth_request)
            else:
                result = server.create_endpoint_response(run, oauth_request)
        return _oauth_json(*result)

    try:
        return await run_in_threadpool(work)
    except HealthpodError as exc:
        return JSONResponse(
            {"error": "server_error", "error_description": exc.message},
            status_code=exc.status,
            headers=NO_STORE,
        )


def _backend_token(pod: Pod, pairs: list[tuple[str, str]]) -> JSONResponse:
    """SMART Backend Services (`backend.issue_token`): one value per parameter."""
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            error = backend.BackendError("invalid_request", f"{key} is given twice.")
            return JSONResponse(error.body(), status_code=400, headers=NO_STORE)
        form[key] = value
    endpoint = f"{pod.settings.public_base_url}/oauth/token"
    try:
        with pod.engine.begin() as conn:
            body = backend.issue_token(conn, form, token_endpoint=endpoint, now_ms=_now_ms(pod))
    except backend.BackendError as exc:
        return JSONResponse(exc.body(), status_code=exc.status, headers=NO_STORE)
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/token", tags=["smart"])
async def token(request: Request) -> JSONResponse:
    """Exchange a code (with its PKCE verifier) or a refresh token for tokens."""
    return await _endpoint(request, "token")


@router.post("/oauth/revoke", tags=["smart"])
async def revoke(request: Request) -> JSONResponse:
    """RFC 7009: revoke an access or refresh token (a refresh token takes its family along)."""
    return await _endpoint(request, "revocation")


@router.post("/oauth/introspect", tags=["smart"])
async def introspect(request: Request) -> JSONResponse:
    """RFC 7662: whether a token is active, for the client it was issued to."""
    return await _endpoint(request, "introspection")


def register(app: FastAPI) -> None:
    app.include_router(discovery.router)
    app.include_router(router)


smart_configuration = discovery.smart_configuration
__all__ = ["Granularity", "Scope", "register", "smart_configuration"]
