"""The rows of delegations: who may act for whom, in which role, until when.

A delegation names the person acted for (`person_id`), the delegate (another person with an
account), the kind (`delegate`, given by the person; `guardian`, for a child until the age
the region sets) and the role (`view` or `manage`). Whether one is live at an instant is the
consent package's decision (`consent.delegation.decide`); this module reads and writes rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, or_, select, update

from healthpod.store import rls, schema

_d = schema.delegations
_p = schema.persons


@dataclass(frozen=True, slots=True)
class Delegation:
    id: int
    person_id: int  # whom the delegate acts for
    delegate_id: int
    kind: str  # delegate|guardian
    role: str  # view|manage
    created_ms: int
    valid_until_ms: int | None
    revoked_ms: int | None
    ended_noticed_ms: int | None = None

    @property
    def via(self) -> str:
        """How the access log names this delegation (its `via` column)."""
        return f"delegation/{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person_id": self.person_id,
            "delegate_id": self.delegate_id,
            "kind": self.kind,
            "role": self.role,
            "created_ms": self.created_ms,
            "valid_until_ms": self.valid_until_ms,
            "revoked_ms": self.revoked_ms,
        }


@dataclass(frozen=True, slots=True)
class Party:
    """A person as a delegation needs them: the name, and for a child the birth date."""

    person_id: int
    name: str
    birth_date: date | None
    time_zone: str | None
    username: str | None = None  # the account's, when the person has one

    @property
    def shown_name(self) -> str:
        """What others see: the username of the account, else the person's name in the pod."""
        return self.username or self.name


def add(
    conn: Connection,
    person_id: int,
    delegate_id: int,
    *,
    kind: str,
    role: str,
    valid_until_ms: int | None,
    now_ms: int,
) -> Delegation:
    """Store a new delegation (the caller checked who may give it) and return it."""
    rls.act_for(conn, person_id)
    new_id = conn.execute(
        insert(_d)
        .values(
            person_id=person_id,
            delegate_id=delegate_id,
            kind=kind,
            role=role,
            created_ms=now_ms,
            valid_until_ms=valid_until_ms,
        )
        .returning(_d.c.id)
    ).scalar_one()
    found = get(conn, int(new_id))
    assert found is not None
    return found


def get(conn: Connection, delegation_id: int) -> Delegation | None:
    row = conn.execute(select(_d).where(_d.c.id == delegation_id)).mappings().first()
    return None if row is None else _delegation(row)


def between(conn: Connection, person_id: int, delegate_id: int) -> list[Delegation]:
    """Every delegation from the person to this delegate, oldest first (revoked ones too)."""
    rls.act_for(conn, person_id)
    query = (
        select(_d)
        .where(_d.c.person_id == person_id, _d.c.delegate_id == delegate_id)
        .order_by(_d.c.id)
    )
    return [_delegation(row) for row in conn.execute(query).mappings()]


def involving(conn: Connection, person_id: int) -> list[Delegation]:
    """Every delegation the person gave or holds, newest first."""
    rls.act_for(conn, person_id)
    query = (
        select(_d)
        .where(or_(_d.c.person_id == person_id, _d.c.delegate_id == person_id))
        .order_by(_d.c.id.desc())
    )
    return [_delegation(row) for row in conn.execute(query).mappings()]


def held_by(conn: Connection, delegate_id: int) -> list[Delegation]:
    """The delegations a person holds (to act for others), oldest first."""
    rls.act_for(conn, delegate_id)
    query = select(_d).where(_d.c.delegate_id == delegate_id).order_by(_d.c.id)
    return [_delegation(row) for row in conn.execute(query).mappings()]


def unnoticed_guardianships(conn: Connection) -> list[Delegation]:
    """Guardianships not revoked whose end by age nobody was told of yet."""
    query = select(_d).where(
        _d.c.kind == "guardian", _d.c.revoked_ms.is_(None), _d.c.ended_noticed_ms.is_(None)
    )
    with rls.scoped(conn, "guardians"):
        return [_delegation(row) for row in conn.execute(query).mappings()]


def revoke(conn: Connection, delegation_id: int, *, now_ms: int) -> bool:
    """Revoke it now; False when it was revoked already."""
    changed = conn.execute(
        update(_d)
        .where(_d.c.id == delegation_id, _d.c.revoked_ms.is_(None))
        .values(revoked_ms=now_ms)
    ).rowcount
    return bool(changed)


def mark_end_noticed(conn: Connection, delegation_id: int, *, now_ms: int) -> bool:
    """Note that both were told the guardianship ended; False if someone else noted it first."""
    changed = conn.execute(
        update(_d)
        .where(_d.c.id == delegation_id, _d.c.ended_noticed_ms.is_(None))
        .values(ended_noticed_ms=now_ms)
    ).rowcount
    return bool(changed)


def party(conn: Connection, person_id: int) -> Party | None:
    """A party of a delegation: either side may be named to the other (`rls` "delegation")."""
    a = schema.accounts
    with rls.scoped(conn, "delegation"):
        row = conn.execute(
            select(_p.c.id, _p.c.name, _p.c.birth_date, _p.c.time_zone, a.c.username)
            .select_from(_p.outerjoin(a, a.c.person_id == _p.c.id))
            .where(_p.c.id == person_id)
        ).first()
    if row is None:
        return None
    return Party(int(row.id), str(row.name), row.birth_date, row.time_zone, row.username)


def set_birth_date(conn: Connection, person_id: int, born: date) -> None:
    """Record a child's birth date (what a guardianship is decided on)."""
    rls.act_for(conn, person_id)
    conn.execute(update(_p).where(_p.c.id == person_id).values(birth_date=born))


def _delegation(row: RowMapping) -> Delegation:
    return Delegation(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        delegate_id=int(row["delegate_id"]),
        kind=str(row["kind"]),
        role=str(row["role"]),
        created_ms=int(row["created_ms"]),
        valid_until_ms=row["valid_until_ms"],
        revoked_ms=row["revoked_ms"],
        ended_noticed_ms=row["ended_noticed_ms"],
    )
