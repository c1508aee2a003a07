"""The access log: append-only and hash-chained per person, written before data is read.

Each entry's hash is sha256 over the previous entry's hash and the canonical JSON of the entry,
so changing, inserting or removing a row breaks the chain from that row on; the head row
(`access_log_heads`) holds the newest sequence number and hash, so cutting entries from the end
is noticed too. `verify` walks the chain and names the first entry that does not fit.

Writers append one at a time per person: the first statement of `record` is an UPDATE of the
person's head row, which takes a row lock on PostgreSQL (concurrent writers of the same person
wait, others do not) and the write lock on SQLite. Call `record` at the start of its
transaction on SQLite (a transaction that already read may not be allowed to write), then read
the data in the same transaction, or commit the entry first and read after: either way no data
leaves without its entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from healthpod.consent.model import Decision
from healthpod.store import schema

GENESIS = "0" * 64

log = schema.access_log
heads = schema.access_log_heads


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    person_id: int
    seq: int
    at_ms: int
    actor_id: int | None
    event: str
    outcome: str
    reason: str
    consent_id: int | None
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "at_ms": self.at_ms,
            "actor_id": self.actor_id,
            "event": self.event,
            "outcome": self.outcome,
            "reason": self.reason,
            "consent_id": self.consent_id,
            "details": dict(self.details),
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of checking one person's chain."""

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"The access log is intact: {self.entries} entries, every hash matches."
        return f"The access log is broken: {self.problem}"


def record(
    conn: Connection,
    person_id: int,
    actor_id: int | None,
    event: str,
    outcome: Decision | str,
    details: Mapping[str, Any] | None = None,
    *,
    now_ms: int,
    reason: str | None = None,
    consent_id: int | None = None,
    slot: Slot | None = None,
) -> LogEntry:
    """Append one entry to the person's log (in `conn`'s transaction) and return it.

    `outcome` is a consent `Decision` (giving "allowed"/"denied", its reason and consent id)
    or a word such as "ok" or "failed" for events that are not decisions (a token issued, a
    consent revoked), with `reason` saying what happened. `slot` is a place `reserve` took
    earlier in the same transaction; without one, the place is reserved now.
    """
    if isinstance(outcome, Decision):
        word = "allowed" if outcome.allowed else "denied"
        reason = outcome.reason if reason is None else reason
        consent_id = outcome.consent_id if consent_id is None else consent_id
    else:
        word = outcome
    fields: dict[str, Any] = {
        "person_id": person_id,
        "at_ms": now_ms,
        "actor_id": actor_id,
        "event": event[:50],
        "outcome": word[:20],
        "reason": reason or "",
        "consent_id": consent_id,
        # Hashed as it will read back: JSON types only (tuples become lists, the rest text).
        "details": json.loads(json.dumps(dict(details or {}), default=str)),
    }
    if slot is None:
        slot = reserve(conn, person_id)
    elif slot.person_id != person_id:
        raise ValueError("a slot of another person's chain")
    seq, prev_hash = slot.seq, slot.prev_hash
    fields["seq"] = seq
    digest = entry_hash(prev_hash, fields)
    sql = _sql(conn)
    entry_id = conn.exec_driver_sql(
        sql.insert_entry,
        {
            **fields,
            "details": json.dumps(fields["details"]),
            "prev_hash": prev_hash,
            "hash": digest,
        },
    ).scalar_one()
    if sql.set_head_hash is not None:
        conn.exec_driver_sql(sql.set_head_hash, {"person_id": person_id, "hash": digest})
    return LogEntry(id=int(entry_id), prev_hash=prev_hash, hash=digest, **fields)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The hot path's statements as driver SQL: every request by an actor runs them, and
    building them with SQLAlchemy Core cost more than executing them."""

    advance_head: str
    lock_head: str
    insert_entry: str  # returns the entry's id; on PostgreSQL it also sets the head's hash
    set_head_hash: str | None


_COLUMNS = (
    "INSERT INTO access_log (person_id, seq, at_ms, actor_id, event, outcome, reason, "
    "consent_id, details, prev_hash, hash) "
)
_SQL = {
    "sqlite": _Statements(
        advance_head="UPDATE access_log_heads SET seq = seq + 1 WHERE person_id = :person_id "
        "RETURNING seq, hash",
        lock_head="UPDATE access_log_heads SET seq = seq WHERE person_id = :person_id",
        insert_entry=_COLUMNS
        + "VALUES (:person_id, :seq, :at_ms, :actor_id, :event, :outcome, :reason, "
        ":consent_id, :details, :prev_hash, :hash) RETURNING id",
        set_head_hash="UPDATE access_log_heads SET hash = :hash WHERE person_id = :person_id",
    ),
    "postgresql": _Statements(
        advance_head="UPDATE access_log_heads SET seq = seq + 1 WHERE person_id = %(person_id)s "
        "RETURNING seq, hash",
        lock_head="UPDATE access_log_heads SET seq = seq WHERE person_id = %(person_id)s",
        # One round trip for both writes: on a busy server each one costs more than the SQL.
        insert_entry="WITH entry AS (INSERT INTO access_log (person_id, seq, at_ms, actor_id, "
        "event, outcome, reason, consent_id, details, prev_hash, hash) "
        "VALUES (%(person_id)s, %(seq)s, %(at_ms)s, %(actor_id)s, %(event)s, %(outcome)s, "
        "%(reason)s, %(consent_id)s, CAST(%(details)s AS json), %(prev_hash)s, %(hash)s) "
        "RETURNING id) UPDATE access_log_heads SET hash = %(hash)s "
        "WHERE person_id = %(person_id)s RETURNING (SELECT id FROM entry)",
        set_head_hash=None,
    ),
}


def _sql(conn: Connection) -> _Statements:
    return _SQL[conn.dialect.name]


def lock_chain(conn: Connection, person_id: int) -> None:
    """Take the person's chain lock now, before anything is read in this transaction.

    A no-op UPDATE of the head row: on PostgreSQL it locks that row until commit, on SQLite it
    takes the database's write lock, so a later write in the same transaction cannot fail
    because another writer committed after this transaction's first read.
    """
    conn.exec_driver_sql(_sql(conn).lock_head, {"person_id": person_id})


@dataclass(frozen=True, slots=True)
class Slot:
    """The next place in a person's chain: its number and the hash of the entry before it.

    Taking one locks the person's chain until the transaction ends; the transaction must then
    write its entry (`record(..., slot=slot)`) or roll back.
    """

    person_id: int
    seq: int
    prev_hash: str


def reserve(conn: Connection, person_id: int) -> Slot:
    """Lock the person's head row, move it one on, and return the new place."""
    bump = _sql(conn).advance_head
    row = conn.exec_driver_sql(bump, {"person_id": person_id}).first()
    if row is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(heads)
            .values(person_id=person_id, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["person_id"])
        )
        row = conn.exec_driver_sql(bump, {"person_id": person_id}).one()
    return Slot(person_id, int(row[0]), str(row[1]))


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256 of the previous hash and the canonical JSON of the entry's fields."""
    canonical = json.dumps(
        {key: fields[key] for key in _HASHED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


_HASHED = (
    "person_id",
    "seq",
    "at_ms",
    "actor_id",
    "event",
    "outcome",
    "reason",
    "consent_id",
    "details",
)


def entries(
    conn: Connection,
    person_id: int,
    *,
    after_seq: int = 0,
    before_seq: int | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[LogEntry]:
    """The person's entries in chain order (or newest first), optionally a page of them.

    Pages: `after_seq` continues an oldest-first walk, `before_seq` a newest-first one.
    """
    query = select(log).where(log.c.person_id == person_id)
    if before_seq is not None:
        query = query.where(log.c.seq < before_seq)
    if newest_first:
        query = query.order_by(log.c.seq.desc())
    else:
        query = query.where(log.c.seq > after_seq).order_by(log.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in conn.execute(query).mappings()]


def _entry(row: Mapping[Any, Any]) -> LogEntry:
    return LogEntry(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        seq=int(row["seq"]),
        at_ms=int(row["at_ms"]),
        actor_id=row["actor_id"],
        event=row["event"],
        outcome=row["outcome"],
        reason=row["reason"],
        consent_id=row["consent_id"],
        details=row["details"] or {},
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _iter_chain(conn: Connection, person_id: int, batch: int = 2000) -> Iterator[LogEntry]:
    after = 0
    while True:
        page = entries(conn, person_id, after_seq=after, limit=batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1].seq


def verify(conn: Connection, person_id: int) -> Verification:
    """Check the person's chain from the first entry to the head; name the first broken one."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    for entry in _iter_chain(conn, person_id):
        fields = {key: getattr(entry, key) for key in _HASHED}
        fields["details"] = dict(entry.details)
        problem = None
        if entry.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (the next one found is {entry.seq})"
        elif entry.prev_hash != expected_prev:
            problem = f"entry {entry.seq} (id {entry.id}) does not follow the entry before it"
        elif entry_hash(entry.prev_hash, fields) != entry.hash:
            problem = f"entry {entry.seq} (id {entry.id}) was changed after it was written"
        if problem is not None:
            return Verification(False, count, entry.seq, entry.id, problem)
        expected_prev, expected_seq, count = entry.hash, entry.seq + 1, count + 1
    head = conn.execute(select(heads).where(heads.c.person_id == person_id)).first()
    head_seq, head_hash = (0, GENESIS) if head is None else (int(head.seq), str(head.hash))
    if head_seq != count or head_hash != expected_prev:
        return Verification(
            False,
            count,
            count + 1,
            None,
            f"entries after {count} are missing: the log's head says it has {head_seq}",
        )
    return Verification(True, count)
