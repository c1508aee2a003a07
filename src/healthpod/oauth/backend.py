"""SMART Backend Services: a care provider's system gets an access token with a signed JWT.

    POST /oauth/token
        grant_type=client_credentials
        client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
        client_assertion=<JWT signed with a key of the client's registered JWKS>
        scope=system/*.c                 (or system/Observation.rs: a study's records;
                                          system/*.rs: a study's answers)

The assertion (RFC 7523, SMART Backend Services) must be signed with RS384 or ES384 (RS256 and
ES256 are accepted too) by a key of the client's JWKS (registered by value, or fetched from its
URL), with `iss` and `sub` its client id, `aud` our token endpoint, an `exp` no more than five
minutes ahead and a `jti` never seen before from this client (kept until it expires). The
token is opaque, lives five minutes and names no person: what it may write is decided per
patient by each person's consent, when a delivery comes.

A research actor's backend client asks for a system read scope instead: its studies'
pseudonymised records, or their answers (`POST /research/studies/{id}/aggregates`), each
within the study's rules and every participant's consent. Only a research actor gets one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from healthpod import json_input
from healthpod.consent.actors import Actor, ActorKind, by_client_id, get_actor
from healthpod.store import schema

logger = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")
TOKEN_SECONDS = 300
MAX_ASSERTION_SECONDS = 300
MAX_ASSERTION_CHARS = 16_000
DELIVERY_SCOPES = frozenset({"system/*.c", "system/*.cu", "system/*.write", "system/*.*"})
# A study's sponsor reading its pseudonymised records (`GET /fhir/Group/{study}/$export`).
EXPORT_SCOPES = frozenset(
    {
        "system/Observation.rs",
        "system/Observation.read",
        "system/Group.rs",
        "system/Group.read",
    }
)
# Every scope of a study's sponsor: its records (above) and its differentially private answers
# (`POST /research/studies/{id}/aggregates`, any of these). Only a research actor gets one.
RESEARCH_SCOPES = EXPORT_SCOPES | frozenset({"system/*.rs", "system/*.read"})
_assertions = schema.backend_assertions
_tokens = schema.backend_tokens
_jwks_cache: dict[str, tuple[float, KeySet]] = {}
_jwks_lock = threading.Lock()
JWKS_CACHE_S = 300


class BackendError(Exception):
    """An OAuth error for the token endpoint: `error` code, description, HTTP status."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True, slots=True)
class BackendToken:
    actor_id: int
    scope: str
    expires_ms: int


def issue_token(
    conn: Connection, form: dict[str, str], *, token_endpoint: str, now_ms: int
) -> dict[str, Any]:
    """Check a client_credentials request with its JWT assertion and issue a token.

    Raises:
        BackendError: anything wrong, with the OAuth error code and a description.
    """
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise BackendError(
            "invalid_client",
            f"client_credentials needs client_assertion_type={ASSERTION_TYPE}.",
            status=401,
        )
    assertion = form.get("client_assertion", "")
    if not assertion:
        raise BackendError("invalid_client", "client_assertion is missing.", status=401)
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise BackendError(
            "invalid_client",
            f"client_assertion is longer than {MAX_ASSERTION_CHARS:,} characters; "
            "a signed JWT of a few claims is far shorter.",
            status=401,
        )
    scopes = form.get("scope", "").split()
    if not scopes or not set(scopes) <= DELIVERY_SCOPES | RESEARCH_SCOPES:
        raise BackendError(
            "invalid_scope",
            "Ask for system/*.c (deliveries of records) or, for a research actor, "
            "system/Observation.rs (a study's pseudonymised records) or system/*.rs (a study's "
            "answers); other system scopes are not offered.",
        )
    actor = _asserting_actor(conn, assertion)
    claims = _verified_claims(actor, assertion, token_endpoint=token_endpoint, now_ms=now_ms)
    if set(scopes) & RESEARCH_SCOPES and actor.kind is not ActorKind.RESEARCH:
        raise BackendError(
            "invalid_scope", "Only a research actor gets a read scope such as system/*.rs."
        )
    _spend_jti(conn, actor, str(claims["jti"]), int(claims["exp"]) * 1000, now_ms=now_ms)
    token = secrets.token_urlsafe(32)
    conn.execute(delete(_tokens).where(_tokens.c.expires_ms < now_ms))
    conn.execute(
        insert(_tokens).values(
            token_hash=_sha256(token),
            actor_id=actor.id,
            scope=" ".join(scopes),
            created_ms=now_ms,
            expires_ms=now_ms + TOKEN_SECONDS * 1000,
        )
    )
    logger.info("backend token issued actor_id=%d", actor.id)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": TOKEN_SECONDS,
        "scope": " ".join(scopes),
    }


def find_token(conn: Connection, presented: str, *, now_ms: int) -> tuple[BackendToken, Actor]:
    """The backend token and its (enabled) actor.

    Raises:
        LookupError: unknown or expired, or the actor is disabled.
    """
    row = conn.execute(select(_tokens).where(_tokens.c.token_hash == _sha256(presented))).first()
    if row is None or row.expires_ms <= now_ms:
        raise LookupError("unknown or expired")
    actor = get_actor(conn, int(row.actor_id))
    if actor.disabled or not actor.backend:
        raise LookupError("disabled")
    return BackendToken(int(row.actor_id), str(row.scope), int(row.expires_ms)), actor


def _asserting_actor(conn: Connection, assertion: str) -> Actor:
    try:
        unverified = jws.extract_compact(assertion.encode())
        payload = json_input.loads(unverified.payload)
    except (JoseError, ValueError) as exc:
        raise BackendError("invalid_client", "client_assertion is not a JWT.", status=401) from exc
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    actor = by_client_id(conn, issuer) if isinstance(issuer, str) else None
    if actor is None or actor.disabled or not actor.backend:
        raise BackendError(
            "invalid_client",
            "The assertion's iss is no registered, enabled backend client.",
            status=401,
        )
    return actor


def _keys(actor: Actor, *, fresh: bool = False) -> KeySet:
    if actor.jwks is not None:
        return KeySet.import_key_set(actor.jwks)  # type: ignore[arg-type]
    assert actor.jwks_uri is not None
    with _jwks_lock:
        cached = _jwks_cache.get(actor.jwks_uri)
    if cached is not None and not fresh and time.monotonic() - cached[0] < JWKS_CACHE_S:
        return cached[1]
    try:
        response = httpx.get(actor.jwks_uri, timeout=10, headers={"accept": "application/json"})
        response.raise_for_status()
        keys = KeySet.import_key_set(response.json())
    except (httpx.HTTPError, ValueError, JoseError, TypeError) as exc:
        logger.warning("backend JWKS unusable actor_id=%d error=%s", actor.id, exc)
        raise BackendError(
            "invalid_client", "The client's JWKS URL gave no usable keys.", status=401
        ) from exc
    with _jwks_lock:
        _jwks_cache[actor.jwks_uri] = (time.monotonic(), keys)
    return keys


def _verified_claims(
    actor: Actor, assertion: str, *, token_endpoint: str, now_ms: int
) -> dict[str, Any]:
    def decode(keys: KeySet) -> jwt.Token:
        return jwt.decode(assertion, keys, algorithms=list(ALGORITHMS))

    try:
        try:
            token = decode(_keys(actor))
        except ValueError:
            if actor.jwks_uri is None:
                raise
            token = decode(_keys(actor, fresh=True))  # keys rotated since we fetched them
    except BadSignatureError as exc:
        raise _refused(actor, "bad signature") from exc
    except (JoseError, ValueError) as exc:
        raise _refused(actor, f"unusable assertion ({exc})") from exc
    now = now_ms // 1000
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=30,
        iss={"essential": True, "value": actor.client_id},
        sub={"essential": True, "value": actor.client_id},
        aud={"essential": True, "value": token_endpoint},
        exp={"essential": True},
        jti={"essential": True},
    )
    claims = dict(token.claims)
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise _refused(actor, "expired assertion (exp has passed)") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise _refused(actor, f"bad or missing claim {exc.claim}") from exc
    except JoseError as exc:
        raise _refused(actor, f"bad assertion ({exc.error})") from exc
    if int(claims["exp"]) > now + MAX_ASSERTION_SECONDS:
        raise _refused(actor, "exp is more than five minutes ahead")
    return claims


def _spend_jti(conn: Connection, actor: Actor, jti: str, expires_ms: int, *, now_ms: int) -> None:
    conn.execute(delete(_assertions).where(_assertions.c.expires_ms < now_ms))
    try:
        with conn.begin_nested():
            conn.execute(
                insert(_assertions).values(
                    actor_id=actor.id, jti_hash=_sha256(jti), expires_ms=expires_ms
                )
            )
    except IntegrityError as exc:
        raise _refused(actor, "the assertion's jti was used before (a replay)") from exc


def _refused(actor: Actor, reason: str) -> BackendError:
    logger.warning("backend assertion refused actor_id=%d reason=%s", actor.id, reason)
    return BackendError("invalid_client", f"The client assertion is refused: {reason}.", status=401)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
