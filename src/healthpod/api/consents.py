"""The person's JSON API for sharing: log in, see and revoke consents, receipts, the access log.

Every route but login works on the person of the session cookie and nothing else: ids in the
path are looked up within that person's rows, so another person's consent is "not found", never
"forbidden". Requests that change something must be JSON (a cross-site form cannot send JSON
without a CORS preflight, which we do not answer) and are refused when the browser says they
come from another site.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, Field

from healthpod import accounts
from healthpod.consent import actors, audit, store
from healthpod.consent.fhir_audit import audit_bundle
from healthpod.consent.fhir_consent import consent_resource
from healthpod.consent.model import Consent
from healthpod.consent.purpose import describe
from healthpod.consent.receipt import build_receipt
from healthpod.errors import AccessDenied, InvalidRequest
from healthpod.pod import Pod, now_ms
from healthpod.research import studies
from healthpod.store.engine import Connection
from healthpod.web import auth, session


class ErrorOut(BaseModel):
    ok: Literal[False] = False
    error: str
    hint: str | None
    code: str
    status: int


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class PersonOut(BaseModel):
    ok: Literal[True] = True
    person_id: int
    username: str | None


class PurposeOut(BaseModel):
    key: str
    system: str
    code: str
    display: str


class ActorOut(BaseModel):
    id: int
    name: str
    kind: str
    client_id: str
    disabled: bool


class ChangeOut(BaseModel):
    version: int
    change: str
    at_ms: int
    summary: str


class ConsentOut(BaseModel):
    id: int
    state: Literal["pending", "active", "expired", "revoked"]
    summary: str
    purpose: PurposeOut
    actor: ActorOut
    categories: list[str]
    actions: list[str]
    granularity: Literal["raw", "daily"]
    data_from_ms: int | None
    data_to_ms: int | None
    valid_from_ms: int
    valid_until_ms: int | None
    revoked_ms: int | None
    version: int
    created_ms: int
    updated_ms: int
    history: list[ChangeOut] | None = None


class LogEntryOut(BaseModel):
    id: int
    seq: int
    at_ms: int
    actor_id: int | None
    event: str
    outcome: str
    reason: str
    consent_id: int | None
    details: dict[str, Any]
    hash: str


class LogPage(BaseModel):
    entries: list[LogEntryOut]
    next_before_seq: int | None = Field(
        description="Pass as before_seq to get the next (older) page; null on the last page."
    )


class VerificationOut(BaseModel):
    ok: bool
    entries: int
    first_broken_seq: int | None
    first_broken_id: int | None
    problem: str | None
    summary: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}


def _pod(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


PodDep = Annotated[Pod, Depends(_pod)]
# Ids and sequence numbers fit the database's integers; larger ones are a 422, not an overflow.
ConsentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def same_site_json(request: Request) -> None:
    """Refuse a state-changing request that is not JSON or that a browser marks cross-site.

    Raises:
        AccessDenied: the request comes from another site.
        InvalidRequest: the body is not JSON.
    """
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise AccessDenied("Requests from other sites are refused.")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = urlsplit(str(request.app.state.settings.base_url))
        given = urlsplit(origin)
        host = request.headers.get("host", "")
        if (given.scheme, given.netloc) != (
            expected.scheme,
            expected.netloc,
        ) and given.netloc != host:
            raise AccessDenied("Requests from other sites are refused.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise InvalidRequest(
            "This request must be JSON.", hint="Send Content-Type: application/json and a body."
        )


SameSiteJson = Depends(same_site_json)
router = APIRouter(prefix="/api", tags=["sharing"], responses=ERRORS)


@router.post("/login", dependencies=[SameSiteJson])
def login(body: LoginIn, request: Request, response: Response) -> PersonOut:
    """Log in with username and password; sets the session and device cookies.

    Repeated failures make the account (from other browsers) and the client address wait, a
    little longer each time (403 saying how long).
    """
    person_id = auth.authenticate(request, body.username, body.password)
    auth.start_session(request, response, person_id)
    return PersonOut(person_id=person_id, username=accounts.normalise_username(body.username))


@router.post("/logout", dependencies=[SameSiteJson])
def logout(request: Request, response: Response) -> dict[str, bool]:
    """Log out (drops the session cookie)."""
    session.clear_session(request, response)
    return {"ok": True}


@router.get("/me")
def me(person_id: session.PersonIdDep, pod: PodDep) -> PersonOut:
    """Who is logged in."""
    with pod.engine.connect() as conn:
        account = accounts.account_for_person(conn, person_id)
    return PersonOut(person_id=person_id, username=account.username if account else None)


@router.get("/consents")
def list_consents(person_id: session.PersonIdDep, pod: PodDep) -> list[ConsentOut]:
    """Every consent you gave, newest first (revoked and expired ones too)."""
    now = now_ms()
    with pod.engine.connect() as conn:
        return [_consent_out(conn, c, now) for c in store.list_consents(conn, person_id)]


@router.get("/consents/{consent_id}")
def show_consent(consent_id: ConsentId, person_id: session.PersonIdDep, pod: PodDep) -> ConsentOut:
    """One of your consents with its history."""
    with pod.engine.connect() as conn:
        found = store.get_consent(conn, person_id, consent_id)
        out = _consent_out(conn, found, now_ms())
        out.history = [
            ChangeOut(
                version=h.version, change=h.change, at_ms=h.at_ms, summary=h.consent.summary()
            )
            for h in store.changes(conn, person_id, consent_id)
        ]
    return out


@router.post("/consents/{consent_id}/revoke", dependencies=[SameSiteJson])
def revoke_consent(
    consent_id: ConsentId, person_id: session.PersonIdDep, pod: PodDep
) -> ConsentOut:
    """Revoke one of your consents: the actor's very next request is refused."""
    now = now_ms()
    with pod.engine.begin() as conn:
        revoked = store.revoke(conn, person_id, consent_id, now_ms=now)
        return _consent_out(conn, revoked, now)


@router.get("/consents/{consent_id}/receipts")
def consent_receipts(
    consent_id: ConsentId, person_id: session.PersonIdDep, pod: PodDep
) -> list[dict[str, Any]]:
    """A receipt per version of the consent (Kantara v1.1 fields, ISO/IEC TS 27560 record)."""
    with pod.engine.connect() as conn:
        found = store.get_consent(conn, person_id, consent_id)
        actor = actors.get_actor(conn, found.actor_id)
        history = store.changes(conn, person_id, consent_id)
        grouping = studies.grouping(conn, person_id, consent_id)
    base_url = pod.settings.public_base_url
    return [build_receipt(h, actor, base_url=base_url, grouping=grouping) for h in history]


@router.get("/consents/{consent_id}/fhir")
def consent_as_fhir(
    consent_id: ConsentId, person_id: session.PersonIdDep, pod: PodDep
) -> dict[str, Any]:
    """The consent as a FHIR R4 Consent resource."""
    with pod.engine.connect() as conn:
        found = store.get_consent(conn, person_id, consent_id)
        actor = actors.get_actor(conn, found.actor_id)
        data_use = studies.data_use(conn, person_id, consent_id)
        grouping = studies.grouping(conn, person_id, consent_id)
    return consent_resource(found, actor, now_ms=now_ms(), data_use=data_use, grouping=grouping)


@router.get("/log")
def read_log(
    person_id: session.PersonIdDep,
    pod: PodDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> LogPage:
    """Your access log, newest first, a page at a time."""
    with pod.engine.connect() as conn:
        entries = audit.entries(
            conn, person_id, newest_first=True, before_seq=before_seq, limit=limit
        )
    last = entries[-1].seq if len(entries) == limit and entries[-1].seq > 1 else None
    return LogPage(entries=[LogEntryOut(**e.as_json()) for e in entries], next_before_seq=last)


@router.get("/log/fhir")
def read_log_as_fhir(
    person_id: session.PersonIdDep,
    pod: PodDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> dict[str, Any]:
    """Your access log as a FHIR R4 Bundle of AuditEvent resources, newest first."""
    with pod.engine.connect() as conn:
        entries = audit.entries(
            conn, person_id, newest_first=True, before_seq=before_seq, limit=limit
        )
        known = {a.id: a for a in actors.list_actors(conn)}
    return audit_bundle(entries, known, base_url=pod.settings.public_base_url)


@router.get("/log/verify")
def verify_log(person_id: session.PersonIdDep, pod: PodDep) -> VerificationOut:
    """Check your access log's hash chain; names the first broken entry."""
    with pod.engine.connect() as conn:
        result = audit.verify(conn, person_id)
    return VerificationOut(
        ok=result.ok,
        entries=result.entries,
        first_broken_seq=result.first_broken_seq,
        first_broken_id=result.first_broken_id,
        problem=result.problem,
        summary=result.summary(),
    )


def _consent_out(conn: Connection, consent: Consent, now: int) -> ConsentOut:
    actor = actors.get_actor(conn, consent.actor_id)
    purpose = describe(consent.purpose)
    return ConsentOut(
        id=consent.id,
        state=consent.state_at(now).value,
        summary=studies.consent_summary(conn, consent),
        purpose=PurposeOut(
            key=consent.purpose, system=purpose.system, code=purpose.code, display=purpose.display
        ),
        actor=ActorOut(
            id=actor.id,
            name=actor.name,
            kind=actor.kind.value,
            client_id=actor.client_id,
            disabled=actor.disabled,
        ),
        categories=sorted(consent.categories),
        actions=sorted(a.value for a in consent.actions),
        granularity=consent.granularity.value,
        data_from_ms=consent.data_from_ms,
        data_to_ms=consent.data_to_ms,
        valid_from_ms=consent.valid_from_ms,
        valid_until_ms=consent.valid_until_ms,
        revoked_ms=consent.revoked_ms,
        version=consent.version,
        created_ms=consent.created_ms,
        updated_ms=consent.updated_ms,
    )


def register(app: FastAPI) -> None:
    session.install(app)
    app.include_router(router)
