"""The access log: append-only, chained per person with a keyed hash, written before data is read.

Each entry's `hash` is an HMAC-SHA256, keyed with the log's key, over the previous entry's hash
and the canonical JSON of the entry, so changing, inserting or removing a row breaks the chain
from that row on, and someone without the key cannot compute a chain that fits again. The head
row (`access_log_heads`) holds the newest sequence number and hash plus its own HMAC (`mac`),
so cutting entries from the end and rewriting the head to match is noticed too. `verify` walks
the chain and names the first entry that does not fit. The key lives outside the database (the
pod's home, or the settings of a region: `keys.access_log_key`); `use_key` gives it to an
engine, as `Pod.open` does. docs/decisions/0004-keyed-access-log.md says what this detects and
what it cannot.

Every entry says who acted (`done_by`: the person themselves, or an actor under a consent), the
actor concerned, whose data (the person), through what (`via`: a delegation or share link, none
yet), what was asked (the event and `details`: resource type, path or query, categories), the
outcome and its reason, and the consent. What a request returned is known only after the read,
which comes after its decision entry is committed: it is a `returned` entry of its own that
`refers_to` the decision's sequence number (`Returned` says how ids are kept).

Writers append one at a time per person: the first statement of `record` is an UPDATE of the
person's head row, which takes a row lock on PostgreSQL (concurrent writers of the same person
wait, others do not) and the write lock on SQLite. Call `record` at the start of its
transaction on SQLite (a transaction that already read may not be allowed to write), then read
the data in the same transaction, or commit the entry first and read after: either way no data
leaves without its entry. `record` is the one function that writes entries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from healthpod.consent.model import Decision
from healthpod.errors import ConfigError
from healthpod.store import pg_copy, rls, schema
from healthpod.store.scope_sql import ids_value

GENESIS = "0" * 64
RETURNED = "returned"
IDS_LISTED = 50  # a page of more ids is kept as their count and a sha256 of them

log = schema.access_log
heads = schema.access_log_heads


class DoneBy(StrEnum):
    """Who acted: the person in their own pod, or an actor (an app, a clinic) under a consent."""

    PERSON = "person"
    ACTOR = "actor"
    RECIPIENT = "recipient"  # whoever holds a share link (`via` names the link)
    DELEGATE = "delegate"  # someone acting for the person (`via` names the delegation)


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    person_id: int
    seq: int
    at_ms: int
    done_by: str
    actor_id: int | None
    via: str | None
    event: str
    outcome: str
    reason: str
    consent_id: int | None
    refers_to: int | None
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    @property
    def by_person(self) -> bool:
        """Whether the person did this themselves (shown as "you")."""
        return self.done_by == DoneBy.PERSON

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "at_ms": self.at_ms,
            "done_by": self.done_by,
            "actor_id": self.actor_id,
            "via": self.via,
            "event": self.event,
            "outcome": self.outcome,
            "reason": self.reason,
            "consent_id": self.consent_id,
            "refers_to": self.refers_to,
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


# The key per connection pool: an engine and its `execution_options` copies share one pool.
_keys: WeakKeyDictionary[Any, bytes] = WeakKeyDictionary()


def use_key(engine: Engine, key: bytes) -> None:
    """Key `engine`'s access log with `key` (from `keys.access_log_key`)."""
    if len(key) < 32:
        raise ConfigError("The access log's key is too short (under 32 bytes).")
    _keys[engine.pool] = key


def _key(conn: Connection) -> bytes:
    try:
        return _keys[conn.engine.pool]
    except KeyError:
        raise ConfigError(
            "The access log's key is not loaded for this database.",
            hint="Open the store with Pod.open, which reads the key from the pod's home "
            "or the settings.",
        ) from None


class Returned:
    """The ids ("Observation/123") a request returned, kept as a `returned` entry keeps them.

    Up to `IDS_LISTED` ids are listed; for more, their count and `ids_sha256`, the sha256 of
    the ids in the order returned, each followed by a newline, so a page can be checked later
    without the log holding every id of a large export. Ids are added as they are sent, so a
    streamed export needs no list of them.
    """

    __slots__ = ("_digest", "_listed", "count")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.count = 0
        self._listed: list[str] = []
        self._digest = hashlib.sha256()
        self.extend(ids)

    def add(self, fhir_id: str) -> None:
        self.count += 1
        if self.count <= IDS_LISTED:
            self._listed.append(fhir_id)
        self._digest.update(f"{fhir_id}\n".encode())

    def extend(self, ids: Iterable[str]) -> None:
        """Add a page of ids at once (one hash update, not one per id)."""
        page = ids if isinstance(ids, list) else list(ids)
        if not page:
            return
        if self.count < IDS_LISTED:
            self._listed.extend(page[: IDS_LISTED - self.count])
        self.count += len(page)
        self._digest.update(("\n".join(page) + "\n").encode())

    def details(self) -> dict[str, Any]:
        if self.count <= IDS_LISTED:
            return {"count": self.count, "ids": list(self._listed)}
        return {"count": self.count, "ids_sha256": self._digest.hexdigest()}


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
    done_by: DoneBy | None = None,
    via: str | None = None,
    refers_to: int | None = None,
) -> LogEntry:
    """Append one entry to the person's log (in `conn`'s transaction) and return it.

    `outcome` is a consent `Decision` (giving "allowed"/"denied", its reason and consent id)
    or a word such as "ok" or "failed" for events that are not decisions (a token issued, a
    consent revoked), with `reason` saying what happened. `done_by` is who acted: by default
    the actor when there is one, else the person; the person's own acts about an actor (a
    consent granted or revoked) pass `DoneBy.PERSON` with that actor's id. `refers_to` is the
    decision entry's `seq` that a `returned` entry completes. `slot` is a place `reserve` took
    earlier in the same transaction; without one, the place is reserved now.

    Raises:
        ConfigError: the database's log key was not loaded (`use_key`).
    """
    rls.act_for(conn, person_id)
    key = _key(conn)
    fields = _fields(
        Draft(
            person_id,
            actor_id,
            event,
            outcome,
            details,
            reason=reason,
            consent_id=consent_id,
            done_by=done_by,
            via=via,
            refers_to=refers_to,
        ),
        now_ms,
    )
    if slot is None:
        slot = reserve(conn, person_id)
    elif slot.person_id != person_id:
        raise ValueError("a slot of another person's chain")
    seq, prev_hash = slot.seq, slot.prev_hash
    fields["seq"] = seq
    digest = entry_hash(key, prev_hash, fields)
    mac = head_mac(key, person_id, seq, digest)
    sql = _sql(conn)
    entry_id = conn.exec_driver_sql(
        sql.insert_entry,
        {
            **fields,
            "details": json.dumps(fields["details"]),
            "prev_hash": prev_hash,
            "hash": digest,
            "mac": mac,
        },
    ).scalar_one()
    if sql.set_head_hash is not None:
        conn.exec_driver_sql(
            sql.set_head_hash, {"person_id": person_id, "hash": digest, "mac": mac}
        )
    return LogEntry(id=int(entry_id), prev_hash=prev_hash, hash=digest, **fields)


class Draft(NamedTuple):
    """One entry for `record_many`: `record`'s arguments, for one person (a tuple: a batch
    makes ten thousand of them, and a frozen dataclass costs several times more to make)."""

    person_id: int
    actor_id: int | None
    event: str
    outcome: Decision | str
    details: Mapping[str, Any] | None = None
    reason: str | None = None
    consent_id: int | None = None
    done_by: DoneBy | None = None
    via: str | None = None
    refers_to: int | None = None


def _fields(draft: Draft, now_ms: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry's hashed fields but its `seq`, as `record` and `record_many` store them
    (`details`: the draft's, already as JSON gives them back)."""
    outcome, reason, consent_id = draft.outcome, draft.reason, draft.consent_id
    if isinstance(outcome, Decision):
        word = "allowed" if outcome.allowed else "denied"
        reason = outcome.reason if reason is None else reason
        consent_id = outcome.consent_id if consent_id is None else consent_id
    else:
        word = outcome
    done_by = draft.done_by
    if done_by is None:
        done_by = DoneBy.PERSON if draft.actor_id is None else DoneBy.ACTOR
    return {
        "person_id": draft.person_id,
        "at_ms": now_ms,
        "done_by": done_by.value,
        "actor_id": draft.actor_id,
        "via": draft.via[:100] if draft.via else None,
        "event": draft.event[:50],
        "outcome": word[:20],
        "reason": reason or "",
        "consent_id": consent_id,
        "refers_to": draft.refers_to,
        "details": _as_read_back(draft.details) if details is None else details,
    }


def _as_read_back(details: Mapping[str, Any] | None) -> dict[str, Any]:
    # Hashed as it will read back: JSON types only (tuples become lists, the rest text).
    found: dict[str, Any] = json.loads(json.dumps(dict(details or {}), default=str))
    return found


def record_many(conn: Connection, drafts: Sequence[Draft], *, now_ms: int) -> dict[int, int]:
    """Append one entry to each of many persons' logs (in `conn`'s transaction), a few
    statements for all of them; returns person id → the new entry's `seq`.

    Each entry is chained and hashed exactly as `record` would (the same fields, the previous
    entry's hash, the head's MAC). The heads are locked first, in person order, so a
    concurrent writer of one of these persons waits for the commit; on SQLite the first
    statement takes the write lock. Runs under row-level security's `cohort` scope, the one
    path that appends to many persons' logs at once.

    Raises:
        ConfigError: the database's log key was not loaded (`use_key`).
        ValueError: two drafts for one person (one chain advances one entry per batch).
    """
    ids = sorted(d.person_id for d in drafts)
    if len(set(ids)) != len(ids):
        raise ValueError("record_many takes one entry per person")
    if not ids:
        return {}
    key = _key(conn)
    dialect = conn.dialect.name
    listed = ids_value(dialect, ids)
    with rls.scoped(conn, "cohort"):
        found = _lock_heads(conn, listed)
        missing = [p for p in ids if p not in found]
        if missing:
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            conn.execute(
                insert(heads)
                .values(
                    [
                        {
                            "person_id": p,
                            "seq": 0,
                            "hash": GENESIS,
                            "mac": head_mac(key, p, 0, GENESIS),
                        }
                        for p in missing
                    ]
                )
                .on_conflict_do_nothing(index_elements=["person_id"])
            )
            found = _lock_heads(conn, listed)
        rows: list[dict[str, Any]] = []
        shared: dict[int, tuple[dict[str, Any], str]] = {}  # a cohort's drafts share details
        canonical = _CanonicalBatch()
        for draft in drafts:
            read_back = shared.get(id(draft.details))
            if read_back is None:
                details = _as_read_back(draft.details)
                read_back = shared[id(draft.details)] = (details, json.dumps(details))
            fields = _fields(draft, now_ms, read_back[0])
            seq, prev_hash = found[draft.person_id]
            fields["seq"] = seq + 1
            digest = canonical.entry_hash(key, prev_hash, fields)
            fields.update(
                details=read_back[1],
                prev_hash=prev_hash,
                hash=digest,
                mac=head_mac(key, draft.person_id, seq + 1, digest),
            )
            rows.append(fields)
        if dialect == "postgresql":
            _append_by_copy(conn, rows)
        else:
            conn.exec_driver_sql(_SQLITE_APPEND, rows)
            conn.exec_driver_sql(_SQLITE_HEADS, rows)
    return {row["person_id"]: row["seq"] for row in rows}


def _append_by_copy(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the entries and the heads' new places by binary COPY into staging tables
    (no statement or parameter processing per row), then one insert and one update.

    The heads are locked (`_lock_heads`) and the entries' `seq` numbers continue them, so
    nothing else appends to these chains meanwhile.
    """
    staging = pg_copy.Staging.of(conn)
    entries = staging.stage(
        log, {name: [row[name] for row in rows] for name in _LOGGED}, json_texts={"details"}
    )
    places = staging.stage(heads, {name: [row[name] for row in rows] for name in _PLACE})
    assert entries is not None and places is not None
    conn.exec_driver_sql(_PG_APPEND.format(entries=entries), {})
    conn.exec_driver_sql(_PG_HEADS.format(places=places), {})


def _lock_heads(conn: Connection, ids: Any) -> dict[int, tuple[int, str]]:
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT person_id, seq, hash FROM access_log_heads "
            "WHERE person_id = ANY(CAST(%(ids)s AS BIGINT[])) "
            "ORDER BY person_id FOR UPDATE",
            {"ids": ids},
        )
    else:
        # A write first: a SQLite transaction that has read may not be allowed to write.
        within = "person_id IN (SELECT value FROM json_each(:ids))"
        conn.exec_driver_sql(f"UPDATE access_log_heads SET seq = seq WHERE {within}", {"ids": ids})  # noqa: S608
        rows = conn.exec_driver_sql(
            f"SELECT person_id, seq, hash FROM access_log_heads WHERE {within}",  # noqa: S608
            {"ids": ids},
        )
    return {int(p): (int(seq), str(h)) for p, seq, h in rows}


@dataclass(frozen=True, slots=True)
class _Statements:
    """The hot path's statements as driver SQL: every request by an actor runs them, and
    building them with SQLAlchemy Core cost more than executing them."""

    advance_head: str
    lock_head: str
    insert_entry: str  # returns the entry's id; on PostgreSQL it also sets the head's hash
    set_head_hash: str | None


_COLUMNS = (
    "INSERT INTO access_log (person_id, seq, at_ms, done_by, actor_id, via, event, outcome, "
    "reason, consent_id, refers_to, details, prev_hash, hash) "
)
_SQL = {
    "sqlite": _Statements(
        advance_head="UPDATE access_log_heads SET seq = seq + 1 WHERE person_id = :person_id "
        "RETURNING seq, hash",
        lock_head="UPDATE access_log_heads SET seq = seq WHERE person_id = :person_id",
        insert_entry=_COLUMNS
        + "VALUES (:person_id, :seq, :at_ms, :done_by, :actor_id, :via, :event, :outcome, "
        ":reason, :consent_id, :refers_to, :details, :prev_hash, :hash) RETURNING id",
        set_head_hash="UPDATE access_log_heads SET hash = :hash, mac = :mac "
        "WHERE person_id = :person_id",
    ),
    "postgresql": _Statements(
        advance_head="UPDATE access_log_heads SET seq = seq + 1 WHERE person_id = %(person_id)s "
        "RETURNING seq, hash",
        lock_head="UPDATE access_log_heads SET seq = seq WHERE person_id = %(person_id)s",
        # One round trip for both writes: on a busy server each one costs more than the SQL.
        insert_entry="WITH entry AS (INSERT INTO access_log (person_id, seq, at_ms, done_by, "
        "actor_id, via, event, outcome, reason, consent_id, refers_to, details, prev_hash, hash) "
        "VALUES (%(person_id)s, %(seq)s, %(at_ms)s, %(done_by)s, %(actor_id)s, %(via)s, "
        "%(event)s, %(outcome)s, %(reason)s, %(consent_id)s, %(refers_to)s, "
        "CAST(%(details)s AS json), %(prev_hash)s, %(hash)s) "
        "RETURNING id) UPDATE access_log_heads SET hash = %(hash)s, mac = %(mac)s "
        "WHERE person_id = %(person_id)s RETURNING (SELECT id FROM entry)",
        set_head_hash=None,
    ),
}


def _sql(conn: Connection) -> _Statements:
    return _SQL[conn.dialect.name]


_LOGGED = (
    "person_id", "seq", "at_ms", "done_by", "actor_id", "via", "event", "outcome", "reason",
    "consent_id", "refers_to", "details", "prev_hash", "hash",
)  # fmt: skip
_PLACE = ("person_id", "seq", "hash", "mac")
# The staging tables' names are the module's own (`pg_copy.Staging`), never input.
_PG_APPEND = (
    _COLUMNS  # noqa: S608 - constant text: the staging table's name is the module's own
    + "SELECT person_id, seq, at_ms, done_by, actor_id, via, event, outcome, reason, "
    "consent_id, refers_to, CAST(details AS json), prev_hash, hash FROM {entries}"
)
_PG_HEADS = (
    "UPDATE access_log_heads AS h SET seq = p.seq, hash = p.hash, mac = p.mac "
    "FROM {places} AS p WHERE h.person_id = p.person_id"
)
_SQLITE_APPEND = (
    _COLUMNS + "VALUES (:person_id, :seq, :at_ms, :done_by, :actor_id, :via, :event, :outcome, "
    ":reason, :consent_id, :refers_to, :details, :prev_hash, :hash)"
)
_SQLITE_HEADS = (
    "UPDATE access_log_heads SET seq = :seq, hash = :hash, mac = :mac WHERE person_id = :person_id"
)


def lock_chain(conn: Connection, person_id: int) -> None:
    """Take the person's chain lock now, before anything is read in this transaction.

    A no-op UPDATE of the head row: on PostgreSQL it locks that row until commit, on SQLite it
    takes the database's write lock, so a later write in the same transaction cannot fail
    because another writer committed after this transaction's first read.
    """
    rls.act_for(conn, person_id)
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
    rls.act_for(conn, person_id)
    bump = _sql(conn).advance_head
    row = conn.exec_driver_sql(bump, {"person_id": person_id}).first()
    if row is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(heads)
            .values(
                person_id=person_id,
                seq=0,
                hash=GENESIS,
                mac=head_mac(_key(conn), person_id, 0, GENESIS),
            )
            .on_conflict_do_nothing(index_elements=["person_id"])
        )
        row = conn.exec_driver_sql(bump, {"person_id": person_id}).one()
    return Slot(person_id, int(row[0]), str(row[1]))


def entry_hash(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    """HMAC-SHA256 with `key` of the previous hash and the canonical JSON of the entry's fields."""
    canonical = _canonical({name: fields[name] for name in _HASHED})
    return hmac.digest(key, (prev_hash + canonical).encode(), "sha256").hex()


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


class _CanonicalBatch:
    """`entry_hash`'s canonical JSON for a batch of entries, the same text to the byte.

    A cohort's ten thousand entries share most of their values (the event, the reason, the
    details): each distinct value is written once, the fields joined in `_HASHED`'s sorted
    order as `sort_keys` joins them. Only ints (not bools) are written afresh, as JSON writes
    them. The batch keeps the details it was given alive, so their ids stay theirs.
    """

    def __init__(self) -> None:
        self._written: dict[tuple[type, Any], str] = {}
        self._details: dict[int, tuple[Any, str]] = {}

    def text(self, fields: Mapping[str, Any]) -> str:
        parts = []
        for name in _SORTED_HASHED:
            value = fields[name]
            if type(value) is int:
                written = str(value)
            elif name == "details":
                seen = self._details.get(id(value))
                if seen is None:
                    seen = self._details[id(value)] = (value, _canonical(value))
                written = seen[1]
            else:
                memo = (type(value), value)
                found = self._written.get(memo)
                if found is None:
                    found = self._written[memo] = _canonical(value)
                written = found
            parts.append(f'"{name}":{written}')
        return "{" + ",".join(parts) + "}"

    def entry_hash(self, key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
        return hmac.digest(key, (prev_hash + self.text(fields)).encode(), "sha256").hex()


def head_mac(key: bytes, person_id: int, seq: int, hash_: str) -> str:
    """HMAC-SHA256 with `key` of the head: whose chain, how long, and its newest hash."""
    return hmac.digest(key, f"head:{person_id}:{seq}:{hash_}".encode(), "sha256").hex()


_HASHED = (
    "person_id",
    "seq",
    "at_ms",
    "done_by",
    "actor_id",
    "via",
    "event",
    "outcome",
    "reason",
    "consent_id",
    "refers_to",
    "details",
)
_SORTED_HASHED = tuple(sorted(_HASHED))


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
    rls.act_for(conn, person_id)
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
        done_by=row["done_by"],
        actor_id=row["actor_id"],
        via=row["via"],
        event=row["event"],
        outcome=row["outcome"],
        reason=row["reason"],
        consent_id=row["consent_id"],
        refers_to=row["refers_to"],
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
    """Check the person's chain from the first entry to the head; name the first broken one.

    Raises:
        ConfigError: the database's log key was not loaded (`use_key`).
    """
    rls.act_for(conn, person_id)
    key = _key(conn)
    expected_prev, expected_seq, count = GENESIS, 1, 0
    for entry in _iter_chain(conn, person_id):
        fields = {name: getattr(entry, name) for name in _HASHED}
        fields["details"] = dict(entry.details)
        problem: str | None = None
        entry_id: int | None = entry.id
        if entry.seq != expected_seq:
            problem = f"entry {expected_seq} is missing (the next one found is {entry.seq})"
            entry_id = None
        elif entry.prev_hash != expected_prev:
            problem = f"entry {entry.seq} (id {entry.id}) does not follow the entry before it"
        elif not hmac.compare_digest(entry_hash(key, entry.prev_hash, fields), entry.hash):
            problem = f"entry {entry.seq} (id {entry.id}) was changed after it was written"
        if problem is not None:
            return Verification(False, count, expected_seq, entry_id, problem)
        expected_prev, expected_seq, count = entry.hash, entry.seq + 1, count + 1
    head = conn.execute(select(heads).where(heads.c.person_id == person_id)).first()
    if head is None:
        if count == 0:
            return Verification(True, 0)
        return Verification(
            False, count, count + 1, None, "the log's head is missing: entries may have been cut"
        )
    head_seq, head_hash, mac = int(head.seq), str(head.hash), str(head.mac)
    if head_seq != count or head_hash != expected_prev:
        return Verification(
            False,
            count,
            count + 1,
            None,
            f"entries after {count} are missing: the log's head says it has {head_seq}",
        )
    if not hmac.compare_digest(head_mac(key, person_id, head_seq, head_hash), mac):
        return Verification(
            False,
            count,
            count + 1,
            None,
            f"the log's head was rewritten without the key: entries after {count} were cut",
        )
    return Verification(True, count)
