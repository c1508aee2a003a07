"""The one path from an actor's request to data: load the consents, decide, log, commit.

    decision = access.authorize(pod.engine, request, event="fhir.search", details={...}, now_ms=now)
    scope = decision.raise_if_denied()          # AccessDenied with the reason; the entry is stored
    with pod.engine.connect() as conn:          # then read, applying `scope` inside the query
        rows = samples.search(conn, query, scope=scope)

`authorize` commits the log entry before it returns, so a denied request is logged even though
the caller raises, and an allowed one is logged before any data is read. Keeping the read in
its own transaction keeps the per-person chain lock short, which is what lets many requests of
one person run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine

from healthpod.consent import audit
from healthpod.consent.engine import decide
from healthpod.consent.model import AccessRequest, Decision
from healthpod.consent.store import consents_for


def authorize(
    engine: Engine,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
) -> Decision:
    """Decide `request` against the consents as they are now and log the verdict (committed)."""
    with _one_writer(engine), engine.begin() as conn:
        return authorize_in(conn, request, event=event, details=details, now_ms=now_ms)


_writers: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_writers_guard = threading.Lock()


def _one_writer(engine: Engine) -> AbstractContextManager[Any]:
    """On SQLite, let one thread of this process write the log at a time.

    SQLite has one writer; threads that find the write lock taken sleep in its busy handler
    (1, 2, 5, 10 ms and on) rather than waking when it is free, which under concurrent
    requests cost more than the requests. A lock here hands the write on at once. Other
    processes still meet the busy handler, which stays the safety net.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _writers_guard:
        lock = _writers.get(engine)
        if lock is None:
            lock = _writers[engine] = threading.Lock()
    return lock


def authorize_in(
    conn: Connection,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
) -> Decision:
    """Like `authorize`, in the caller's transaction, which must not have read anything yet."""
    if conn.dialect.name == "sqlite":
        # A SQLite transaction that has read may not be allowed to write: lock first.
        slot = audit.reserve(conn, request.person_id)
        consents = consents_for(conn, request.person_id, request.actor_id)
    else:
        # PostgreSQL reads the committed state either way; reading before taking the person's
        # chain lock keeps the lock (which serialises that person's requests) shorter.
        consents = consents_for(conn, request.person_id, request.actor_id)
        slot = audit.reserve(conn, request.person_id)
    decision = decide(consents, request, now_ms=now_ms)
    audit.record(
        conn,
        request.person_id,
        request.actor_id,
        event,
        decision,
        {**(details or {}), "action": request.action.value, **_wanted(request)},
        now_ms=now_ms,
        slot=slot,
    )
    return decision


def _wanted(request: AccessRequest) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if request.categories:
        wanted["categories"] = sorted(request.categories)
    if request.resource_type:
        wanted["resource_type"] = request.resource_type
    return wanted
