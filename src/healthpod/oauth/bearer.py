"""Who is calling the FHIR API: an actor's bearer token, or the person's own session.

A bearer token is looked up by its hash; it must be an access token (a refresh token or an
id_token is refused), unexpired, unrevoked, and its actor enabled. What the caller may then
see is decided per request by the consent engine, not here: the token only names the person,
the actor, the consent it was issued under, and the scopes that cap it. A token in the query
string is refused, so tokens never land in access logs of proxies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from healthpod.fhir.outcome import Unauthorized
from healthpod.oauth import tokens
from healthpod.oauth.scopes import ScopeSet, parse_scopes
from healthpod.web import session


@dataclass(frozen=True, slots=True)
class Caller:
    person_id: int
    actor_id: int | None  # None: the person, through their own session
    consent_id: int | None
    scopes: ScopeSet | None  # None: the person, who may see everything of their own
    fhir_user: str | None = None  # who launched the app: RelatedPerson/delegate-<id>, or None

    @property
    def is_person(self) -> bool:
        return self.actor_id is None


def authenticate(request: Request, engine: Engine, *, now_ms: int) -> Caller:
    """The caller of this request.

    Raises:
        Unauthorized: no credentials, or a token that is unknown, expired, revoked or not an
            access token, or whose actor is disabled.
    """
    if "access_token" in request.query_params:
        raise Unauthorized(
            "Tokens in the query string are refused.",
            hint="Send it as `Authorization: Bearer <token>`.",
        )
    header = request.headers.get("authorization")
    if header is None:
        person_id = session.current_person(request) if request.method == "GET" else None
        if person_id is not None:
            return Caller(person_id, None, None, None)
        raise Unauthorized(
            "This request needs an access token.",
            hint="Get one through SMART App Launch (see /.well-known/smart-configuration).",
        )
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented or len(presented) > 4096:
        raise Unauthorized("The Authorization header must be `Bearer <token>`.")
    with engine.connect() as conn:
        found = tokens.find_access_token(conn, presented)
    if found is None or not found[0].active(now_ms):
        raise Unauthorized(
            "The access token is unknown, expired or revoked.",
            hint="Refresh it, or authorize again.",
        )
    record, actor_disabled = found
    if actor_disabled:
        raise Unauthorized("The app this token was issued to has been disabled.")
    return Caller(
        record.person_id,
        record.actor_id,
        record.consent_id,
        _scopes(record.scope),
        record.fhir_user,
    )


@functools.lru_cache(maxsize=1024)
def _scopes(text: str) -> ScopeSet:
    # A token's scope string never changes and a ScopeSet is frozen: parse each one once.
    return parse_scopes(text)
