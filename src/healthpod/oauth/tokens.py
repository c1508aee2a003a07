"""Authorization codes, access tokens and refresh tokens in the database, stored hashed.

A code or token is 256 random bits shown to the client once; we keep only its sha256, so a
copy of the database holds nothing a client could present. Every token belongs to a family
(the authorization code it descends from): reusing a code or a rotated refresh token revokes
the whole family, and so does the person revoking the consent it was issued under.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from healthpod.store import rls, schema

ACCESS_TOKEN_SECONDS = 300  # short-lived: a revoked consent is checked per request anyway
REFRESH_TOKEN_SECONDS = 90 * 24 * 3600  # absolute: rotation never extends a family beyond it
CODE_SECONDS = 60

codes = schema.oauth_codes
tokens = schema.oauth_tokens


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class CodeRecord:
    id: int
    code_hash: str
    person_id: int
    actor_id: int
    consent_id: int
    redirect_uri: str
    scope: str
    code_challenge: str
    nonce: str | None
    created_ms: int
    expires_ms: int
    used_ms: int | None
    fhir_user: str | None = None  # RelatedPerson/delegate-<id> for a delegate's launch


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    kind: str  # access|refresh
    family: str
    person_id: int
    actor_id: int
    consent_id: int
    scope: str
    created_ms: int
    expires_ms: int
    used_ms: int | None
    revoked_ms: int | None
    fhir_user: str | None = None  # RelatedPerson/delegate-<id> for a delegate's launch

    def active(self, now_ms: int) -> bool:
        return self.revoked_ms is None and self.used_ms is None and now_ms < self.expires_ms


def save_code(
    conn: Connection,
    *,
    person_id: int,
    actor_id: int,
    consent_id: int,
    redirect_uri: str,
    scope: str,
    code_challenge: str,
    nonce: str | None,
    now_ms: int,
    fhir_user: str | None = None,
) -> str:
    """Store a new authorization code and return it (the only time it exists in clear)."""
    rls.act_for(conn, person_id)
    code = new_secret()
    conn.execute(
        insert(codes).values(
            code_hash=digest(code),
            person_id=person_id,
            actor_id=actor_id,
            consent_id=consent_id,
            redirect_uri=redirect_uri,
            scope=scope,
            code_challenge=code_challenge,
            nonce=nonce,
            fhir_user=fhir_user,
            created_ms=now_ms,
            expires_ms=now_ms + CODE_SECONDS * 1000,
        )
    )
    return code


def find_code(conn: Connection, code: str) -> CodeRecord | None:
    """The record of a presented code; the transaction then works for its person (`rls`)."""
    with rls.scoped(conn, "token"):
        query = select(codes).where(codes.c.code_hash == digest(code))
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    rls.act_for(conn, int(row["person_id"]))
    return CodeRecord(**{k: row[k] for k in CodeRecord.__slots__})


def use_code(conn: Connection, record: CodeRecord, *, now_ms: int) -> bool:
    """Mark the code used; False if it already was (another request got there first)."""
    result = conn.execute(
        update(codes)
        .where(codes.c.id == record.id, codes.c.used_ms.is_(None))
        .values(used_ms=now_ms)
    )
    return result.rowcount == 1


def issue(
    conn: Connection,
    *,
    kind: str,
    family: str,
    person_id: int,
    actor_id: int,
    consent_id: int,
    scope: str,
    now_ms: int,
    expires_ms: int,
    fhir_user: str | None = None,
) -> str:
    """Store a new token of `kind` and return it in clear, once."""
    rls.act_for(conn, person_id)
    token = new_secret()
    conn.execute(
        insert(tokens).values(
            token_hash=digest(token),
            kind=kind,
            family=family,
            person_id=person_id,
            actor_id=actor_id,
            consent_id=consent_id,
            scope=scope,
            created_ms=now_ms,
            expires_ms=expires_ms,
            fhir_user=fhir_user,
        )
    )
    return token


def find_token(conn: Connection, token: str, kind: str | None = None) -> TokenRecord | None:
    """The record of a presented token (any state), or None if we never issued it; the
    transaction then works for its person (`rls`)."""
    query = select(tokens).where(tokens.c.token_hash == digest(token))
    if kind is not None:
        query = query.where(tokens.c.kind == kind)
    with rls.scoped(conn, "token"):
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    rls.act_for(conn, int(row["person_id"]))
    return _token(row)


def find_access_token(conn: Connection, token: str) -> tuple[TokenRecord, bool] | None:
    """An access token's record and whether its actor is disabled (one query, the hot path).

    Driver SQL: every request by an actor runs it, and building the statement with SQLAlchemy
    Core cost more than running it.
    """
    with rls.scoped(conn, "token"):
        found = conn.exec_driver_sql(_FIND_ACCESS[conn.dialect.name], {"hash": digest(token)})
        row = found.first()
        if row is None:
            return None
        record = TokenRecord(*row[:-1])
        rls.leave_scope_for(conn, record.person_id)
    return record, row[-1] is not None


_SELECT_ACCESS = (
    "SELECT t.id, t.kind, t.family, t.person_id, t.actor_id, t.consent_id, t.scope, "
    "t.created_ms, t.expires_ms, t.used_ms, t.revoked_ms, t.fhir_user, a.disabled_ms "
    "FROM oauth_tokens AS t JOIN actors AS a ON a.id = t.actor_id "
    "WHERE t.kind = 'access' AND t.token_hash = "
)
_FIND_ACCESS = {"sqlite": _SELECT_ACCESS + ":hash", "postgresql": _SELECT_ACCESS + "%(hash)s"}


def mark_used(conn: Connection, record: TokenRecord, *, now_ms: int) -> bool:
    """Rotate a refresh token out; False if it was already used or revoked (a reuse)."""
    result = conn.execute(
        update(tokens)
        .where(tokens.c.id == record.id, tokens.c.used_ms.is_(None), tokens.c.revoked_ms.is_(None))
        .values(used_ms=now_ms)
    )
    return result.rowcount == 1


def revoke_family(conn: Connection, family: str, *, now_ms: int) -> int:
    """Revoke every token of a family; returns how many were still live."""
    result = conn.execute(
        update(tokens)
        .where(tokens.c.family == family, tokens.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )
    return int(result.rowcount)


def revoke_token(conn: Connection, record: TokenRecord, *, now_ms: int) -> None:
    """Revoke one token; revoking a refresh token revokes its family (RFC 7009 §2.1)."""
    if record.kind == "refresh":
        revoke_family(conn, record.family, now_ms=now_ms)
        return
    conn.execute(
        update(tokens)
        .where(tokens.c.id == record.id, tokens.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    )


def family_started_ms(conn: Connection, family: str) -> int | None:
    """When the family's first token was issued (refresh tokens never outlive it + 90 days)."""
    from sqlalchemy import func

    value = conn.scalar(select(func.min(tokens.c.created_ms)).where(tokens.c.family == family))
    return None if value is None else int(value)


def _token(row: Mapping[Any, Any]) -> TokenRecord:
    return TokenRecord(**{k: row[k] for k in TokenRecord.__slots__})


def begin_writing(conn: Connection) -> None:
    """On SQLite, take the write lock before the first read of a transaction that will write.

    A write after a read fails at once on SQLite (WAL) when another connection committed in
    between; a no-op UPDATE first makes the transaction a writer from its start.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(update(codes).where(codes.c.id == -1).values(used_ms=None))
