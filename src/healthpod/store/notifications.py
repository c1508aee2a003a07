"""The rows of notifications and of each person's notification settings.

A notification is a kind and a few parameters (names of actors, counts, ids): never health
data. `key` makes an event that is told once unique for the person (an actor's first read, a
link opened on a day); adding one whose key exists does nothing. `healthpod.notify` decides
what to tell; this module only reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from healthpod.store import rls, schema

_n = schema.notifications
_prefs = schema.notification_prefs

# The kinds (what the inbox and the digests can say)
CONSENT_NEW = "consent-new"
ACCESS_REFUSED = "access-refused"
LINK_OPENED = "link-opened"
DELEGATE_ACTION = "delegate-action"
FIRST_READ = "first-read"
CONSENT_EXPIRING = "consent-expiring"
DELEGATION_GRANTED = "delegation-granted"
GUARDIANSHIP_ENDED = "guardianship-ended"
KINDS: tuple[str, ...] = (
    CONSENT_NEW,
    ACCESS_REFUSED,
    LINK_OPENED,
    DELEGATE_ACTION,
    FIRST_READ,
    CONSENT_EXPIRING,
    DELEGATION_GRANTED,
    GUARDIANSHIP_ENDED,
)
FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "off")
DEFAULT_FREQUENCY = "weekly"


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    person_id: int
    kind: str
    at_ms: int
    params: dict[str, Any]
    read_ms: int | None
    emailed_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at_ms": self.at_ms,
            "params": dict(self.params),
            "read": self.read_ms is not None,
        }


@dataclass(frozen=True, slots=True)
class Prefs:
    person_id: int
    email: str | None
    digests: dict[str, str]  # kind -> daily|weekly|off
    daily_sent_ms: int | None
    weekly_sent_ms: int | None
    log_seq: int

    def frequency(self, kind: str) -> str:
        return self.digests.get(kind, DEFAULT_FREQUENCY)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def add(
    conn: Connection,
    person_id: int,
    kind: str,
    params: dict[str, Any],
    *,
    now_ms: int,
    key: str | None = None,
) -> bool:
    """Add a notification; False when one with this `key` exists already."""
    rls.act_for(conn, person_id)
    statement = (
        _insert(conn)(_n)
        .values(person_id=person_id, kind=kind, at_ms=now_ms, params=params, key=key)
        .on_conflict_do_nothing(index_elements=["person_id", "key"])
    )
    return bool(conn.execute(statement).rowcount)


def listing(
    conn: Connection, person_id: int, *, limit: int = 100, unread_only: bool = False
) -> list[Notification]:
    """The person's notifications, newest first."""
    rls.act_for(conn, person_id)
    query = select(_n).where(_n.c.person_id == person_id)
    if unread_only:
        query = query.where(_n.c.read_ms.is_(None))
    query = query.order_by(_n.c.at_ms.desc(), _n.c.id.desc()).limit(limit)
    return [_notification(row) for row in conn.execute(query).mappings()]


def unread_count(conn: Connection, person_id: int) -> int:
    rls.act_for(conn, person_id)
    return int(
        conn.scalar(
            select(func.count())
            .select_from(_n)
            .where(_n.c.person_id == person_id, _n.c.read_ms.is_(None))
        )
        or 0
    )


def mark_read(conn: Connection, person_id: int, *, now_ms: int) -> int:
    """Mark every unread notification of the person read; returns how many."""
    rls.act_for(conn, person_id)
    return int(
        conn.execute(
            update(_n)
            .where(_n.c.person_id == person_id, _n.c.read_ms.is_(None))
            .values(read_ms=now_ms)
        ).rowcount
    )


def not_emailed(conn: Connection, person_id: int, kinds: frozenset[str]) -> list[Notification]:
    """The person's notifications of these kinds not sent by email yet, oldest first."""
    rls.act_for(conn, person_id)
    if not kinds:
        return []
    query = (
        select(_n)
        .where(_n.c.person_id == person_id, _n.c.emailed_ms.is_(None), _n.c.kind.in_(kinds))
        .order_by(_n.c.at_ms, _n.c.id)
    )
    return [_notification(row) for row in conn.execute(query).mappings()]


def mark_emailed(conn: Connection, person_id: int, ids: list[int], *, now_ms: int) -> None:
    """Mark these notifications of the person sent by email."""
    rls.act_for(conn, person_id)
    if ids:
        conn.execute(
            update(_n)
            .where(_n.c.person_id == person_id, _n.c.id.in_(ids))
            .values(emailed_ms=now_ms)
        )


def prefs(conn: Connection, person_id: int) -> Prefs:
    """The person's settings (the defaults when they never set any)."""
    rls.act_for(conn, person_id)
    row = conn.execute(select(_prefs).where(_prefs.c.person_id == person_id)).mappings().first()
    if row is None:
        return Prefs(person_id, None, {}, None, None, 0)
    return _prefs_of(row)


def _prefs_of(row: Any) -> Prefs:
    return Prefs(
        int(row["person_id"]),
        row["email"],
        dict(row["digests"] or {}),
        row["daily_sent_ms"],
        row["weekly_sent_ms"],
        int(row["log_seq"] or 0),
    )


def save_prefs(conn: Connection, person_id: int, **values: Any) -> None:
    """Set some of the person's settings (email, digests, *_sent_ms, log_seq); with none,
    make the row if missing and hold it locked until the transaction ends."""
    rls.act_for(conn, person_id)
    statement = _insert(conn)(_prefs).values({"person_id": person_id, "digests": {}, **values})
    changes = values or {"log_seq": _prefs.c.log_seq}
    conn.execute(statement.on_conflict_do_update(index_elements=["person_id"], set_=changes))


def with_email(conn: Connection) -> list[Prefs]:
    """Everyone who gave an email address for digests (across persons: the `digests` scope)."""
    query = select(_prefs).where(_prefs.c.email.is_not(None)).order_by(_prefs.c.person_id)
    with rls.scoped(conn, "digests"):
        return [_prefs_of(row) for row in conn.execute(query).mappings()]


def _notification(row: Any) -> Notification:
    return Notification(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        kind=str(row["kind"]),
        at_ms=int(row["at_ms"]),
        params=dict(row["params"] or {}),
        read_ms=row["read_ms"],
        emailed_ms=row["emailed_ms"],
    )
