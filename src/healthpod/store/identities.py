"""Who a person is outside the pod (keyed hashes of their identifiers), and e-ID sign-ins
under way (the `state`, nonce and PKCE verifier of each).

These find a person; they read none of their data (that goes through `person_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from healthpod.store import rls, schema

_i = schema.identities
_l = schema.oidc_logins
LOGIN_ROWS_KEPT_MS = 24 * 60 * 60 * 1000  # used or abandoned sign-ins are forgotten after a day


@dataclass(frozen=True, slots=True)
class LoginStart:
    """What a sign-in was started with, as its callback needs it."""

    provider: str
    nonce: str
    code_verifier: str
    next_path: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    person_id: int
    value_encrypted: str
    provider: str | None


def start_login(
    conn: Connection,
    state_hash: str,
    start: LoginStart,
) -> None:
    """Record a sign-in under way (and forget those older than a day)."""
    conn.execute(delete(_l).where(_l.c.created_ms < start.created_ms - LOGIN_ROWS_KEPT_MS))
    conn.execute(
        insert(_l).values(
            state_hash=state_hash,
            provider=start.provider,
            nonce=start.nonce,
            code_verifier=start.code_verifier,
            next_path=start.next_path,
            created_ms=start.created_ms,
        )
    )


def claim_login(conn: Connection, state_hash: str, *, now_ms: int) -> LoginStart | str:
    """Mark the sign-in of this state used and return what it was started with, once.

    Returns "unknown" or "used" instead when there is no such sign-in or it was used before
    (a second UPDATE of the same row finds `used_ms` set, on SQLite and PostgreSQL alike).
    """
    row = (
        conn.execute(
            update(_l)
            .where(_l.c.state_hash == state_hash, _l.c.used_ms.is_(None))
            .values(used_ms=now_ms)
            .returning(
                _l.c.provider, _l.c.nonce, _l.c.code_verifier, _l.c.next_path, _l.c.created_ms
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        known = conn.scalar(select(_l.c.used_ms).where(_l.c.state_hash == state_hash))
        return "unknown" if known is None else "used"
    return LoginStart(
        provider=str(row["provider"]),
        nonce=str(row["nonce"]),
        code_verifier=str(row["code_verifier"]),
        next_path=str(row["next_path"]),
        created_ms=int(row["created_ms"]),
    )


def find(conn: Connection, value_hash: str) -> Identity | None:
    """The identity with this keyed hash, or None."""
    with rls.scoped(conn, "sign-in"):
        row = conn.execute(select(_i).where(_i.c.value_hash == value_hash)).mappings().first()
    if row is None:
        return None
    return Identity(
        int(row["id"]), int(row["person_id"]), str(row["value_encrypted"]), row["provider"]
    )


def persons_matching(conn: Connection, value_hashes: list[str]) -> list[int]:
    """The distinct persons any of these hashes belongs to (a delivery's patient matching)."""
    if not value_hashes:
        return []
    query = select(_i.c.person_id).where(_i.c.value_hash.in_(value_hashes)).distinct()
    with rls.scoped(conn, "sign-in"):
        return sorted(int(person_id) for person_id in conn.scalars(query))


def add(
    conn: Connection,
    person_id: int,
    value_hash: str,
    value_encrypted: str,
    *,
    provider: str | None,
    terms_version: str | None,
    now_ms: int,
) -> int:
    """Link an identifier (by its keyed hash) to a person; returns the identity's id."""
    rls.act_for(conn, person_id)
    return int(
        conn.execute(
            insert(_i)
            .values(
                person_id=person_id,
                value_hash=value_hash,
                value_encrypted=value_encrypted,
                provider=provider,
                terms_version=terms_version,
                created_ms=now_ms,
                last_login_ms=now_ms if provider else None,
            )
            .returning(_i.c.id)
        ).scalar_one()
    )


def signed_in(conn: Connection, identity: Identity, *, now_ms: int) -> None:
    rls.act_for(conn, identity.person_id)
    conn.execute(update(_i).where(_i.c.id == identity.id).values(last_login_ms=now_ms))


def of_person(conn: Connection, person_id: int) -> list[Identity]:
    """The person's identities (for showing their own number back to them)."""
    rls.act_for(conn, person_id)
    rows = conn.execute(select(_i).where(_i.c.person_id == person_id).order_by(_i.c.id)).mappings()
    return [
        Identity(int(r["id"]), int(r["person_id"]), str(r["value_encrypted"]), r["provider"])
        for r in rows
    ]
