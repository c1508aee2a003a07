"""The one path from an actor's request to data: load the consents, decide, log, commit.

    data = access.open_for_actor(pod.engine, pod.reads, request, event="fhir.search", now_ms=now)
    with data.reader() as read:                 # AccessDenied above, with the entry stored
        rows = read.samples(found, after=None, limit=100)   # the scope applied inside SQL
    access.record_returned(pod.engine, decision, request, ids, now_ms=now)   # what left the pod

`open_for_actor` is the only maker of an actor's `store.person_data.PersonData`; `authorize`
returns the bare `Decision` for callers that only need the verdict (tests, the demo).

`authorize` commits the log entry before it returns, so a denied request is logged even though
the caller raises, and an allowed one is logged before any data is read. Keeping the read in
its own transaction keeps the per-person chain lock short, which is what lets many requests of
one person run at once.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: processes meet SQLite's busy handler instead
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import replace
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine

from healthpod.consent import audit
from healthpod.consent.engine import decide
from healthpod.consent.model import AccessRequest, Decision
from healthpod.consent.store import consents_for
from healthpod.store import person_data
from healthpod.store.person_data import Accessor, PersonData


def open_for_actor(
    engine: Engine,
    reads: Engine,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    refused: str | None = None,
) -> PersonData:
    """Decide and log `request` (committed), then open the door within the decision's scope.

    Raises:
        AccessDenied: no consent covers the request, or `refused` (logged either way).
    """
    decision = authorize(
        engine, request, event=event, details=details, now_ms=now_ms, refused=refused
    )
    scope = decision.raise_if_denied()
    accessor = Accessor(
        request.actor_id, decision.consent_id, decision.reason, decision=decision, asked=request
    )
    return person_data._for_decision(engine, reads, request.person_id, scope, accessor)


def authorize(
    engine: Engine,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    refused: str | None = None,
) -> Decision:
    """Decide `request` against the consents as they are now and log the verdict (committed).

    `refused` is a refusal decided before the consents (the token's scopes do not reach the
    request): it is logged as the denial, with that reason and the token's consent.
    """
    with _one_writer(engine), engine.begin() as conn:
        return authorize_in(
            conn, request, event=event, details=details, now_ms=now_ms, refused=refused
        )


def record_returned(
    engine: Engine,
    decision: Decision,
    request: AccessRequest,
    ids: Iterable[str] | audit.Returned,
    *,
    now_ms: int,
) -> None:
    """Log what an allowed request returned ("Observation/12", …), read after its decision.

    A `returned` entry that refers to the decision's entry; `audit.Returned` says how the ids
    are kept. Nothing is written for a decision that was not logged.
    """
    if decision.entry_seq is None:
        return
    sent = ids if isinstance(ids, audit.Returned) else audit.Returned(ids)
    with _one_writer(engine), engine.begin() as conn:
        audit.record(
            conn,
            request.person_id,
            request.actor_id,
            audit.RETURNED,
            "ok",
            sent.details(),
            now_ms=now_ms,
            reason=f"returned {sent.count} resource{'' if sent.count == 1 else 's'}",
            consent_id=decision.consent_id,
            refers_to=decision.entry_seq,
        )


class _WriterLock:
    """This process's threads take turns (a lock), and so do processes (`flock` on a file
    beside the database, where the system has it): a waiter wakes the moment the writer is
    done instead of sleeping in SQLite's busy handler."""

    def __init__(self, database: str | None) -> None:
        self.threads = threading.Lock()
        self.file: BinaryIO | None = None
        if fcntl is not None and database and database != ":memory:":
            with suppress(OSError):  # a read-only directory: SQLite's locking alone then
                self.file = Path(f"{database}.log-lock").open("ab")  # noqa: SIM115 - kept open
                # Closed with the lock, which goes with its engine.
                weakref.finalize(self, self.file.close)

    def __enter__(self) -> None:
        self.threads.acquire()
        if self.file is not None:
            # A file system without locks: SQLite's own locking still holds.
            with suppress(OSError):
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self.file is not None:
            with suppress(OSError):
                fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
        self.threads.release()


_writers: WeakKeyDictionary[Engine, _WriterLock] = WeakKeyDictionary()
_writers_guard = threading.Lock()


def _one_writer(engine: Engine) -> AbstractContextManager[Any]:
    """On SQLite, let one thread of one process write the log at a time.

    SQLite has one writer; a connection that finds the write lock taken sleeps in its busy
    handler (1, 2, 5, 10 ms and on) rather than waking when it is free, which under
    concurrent requests, from threads or from worker processes, cost more than the requests.
    The busy handler stays the safety net (another program, a file system without locks).
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _writers_guard:
        lock = _writers.get(engine)
        if lock is None:
            lock = _writers[engine] = _WriterLock(engine.url.database)
    return lock


def authorize_in(
    conn: Connection,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    refused: str | None = None,
) -> Decision:
    """Like `authorize`, in the caller's transaction, which must not have read anything yet."""
    if refused is not None:
        slot = audit.reserve(conn, request.person_id)
        decision = Decision(False, refused, request.consent_id)
    elif conn.dialect.name == "sqlite":
        # A SQLite transaction that has read may not be allowed to write: lock first.
        slot = audit.reserve(conn, request.person_id)
        consents = consents_for(conn, request.person_id, request.actor_id)
        decision = decide(consents, request, now_ms=now_ms)
    else:
        # PostgreSQL reads the committed state either way; reading before taking the person's
        # chain lock keeps the lock (which serialises that person's requests) shorter.
        consents = consents_for(conn, request.person_id, request.actor_id)
        slot = audit.reserve(conn, request.person_id)
        decision = decide(consents, request, now_ms=now_ms)
    entry = audit.record(
        conn,
        request.person_id,
        request.actor_id,
        event,
        decision,
        {**(details or {}), "action": request.action.value, **_wanted(request)},
        now_ms=now_ms,
        # A refusal names the consent the token was bound to (a revoked one, say).
        consent_id=decision.consent_id or request.consent_id,
        slot=slot,
    )
    return replace(decision, entry_seq=entry.seq)


def _wanted(request: AccessRequest) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if request.categories:
        wanted["categories"] = sorted(request.categories)
    if request.resource_type:
        wanted["resource_type"] = request.resource_type
    return wanted
