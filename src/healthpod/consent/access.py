"""The one path from an actor's request to data: load the consents, decide, log.

    data, entry = access.decide_for_actor(pod.engine, pod.reads, request, event="fhir.search",
                                          now_ms=now)   # AccessDenied, with the refusal logged
    with data.reader() as read:                         # the scope applied inside SQL
        rows = read.samples(found, after=None, limit=100)
    entry.write(audit.Returned(ids))   # ONE entry: the decision and what left the pod

`decide_for_actor` and `open_for_actor` are the only makers of an actor's
`store.person_data.PersonData`; `authorize` returns the bare `Decision` for callers that only
need the verdict (tests, the demo, a Bulk kick-off).

Two ways to log an allowed request (docs/decisions/0011-one-entry-per-request.md):

- A bounded answer (a page, one resource) is decided on a read connection and logged as one
  entry, the decision with what it returned, written and committed after the read and before
  a byte of the answer is sent (`decide_for_actor`, `DecisionEntry.write`). A request whose
  handler fails after the decision still gets its entry (the FHIR routes write every
  unwritten `DecisionEntry` on the way out, with the error): nothing is sent without one.
- A stream (a Bulk file) cannot wait: its decision is committed before the first line
  (`open_for_actor`, `authorize`) and a `returned` entry that refers to it follows
  (`record_returned`).

A refusal is logged (committed) before `AccessDenied` is raised, either way. Keeping the read
outside the log's write transaction keeps the per-person chain lock short, which is what lets
many requests of one person run at once.
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
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, replace
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine

from healthpod.consent import audit
from healthpod.consent import delegation as delegation_rules
from healthpod.consent.delegation import DelegateAction
from healthpod.consent.engine import decide
from healthpod.consent.model import AccessRequest, Action, Decision, format_day
from healthpod.consent.store import consents_for, consents_for_cohort
from healthpod.errors import AccessDenied, NotFound
from healthpod.store import delegations, person_data, restrictions, share_links
from healthpod.store.person_data import Accessor, CohortData, PersonData
from healthpod.store.share_links import ShareLink


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


class DecisionEntry:
    """An allowed decision that is logged once, with what its request returned.

    Made by `decide_for_actor`; `write` appends the entry (the decision, its reason and
    consent, what was asked and, under `details["returned"]`, what was sent) and commits it.
    Written at most once: a second `write` adds a `returned` entry that refers to it.
    """

    __slots__ = ("decision", "details", "engine", "event", "now_ms", "request", "seq")

    def __init__(
        self,
        engine: Engine,
        request: AccessRequest,
        decision: Decision,
        event: str,
        details: Mapping[str, Any] | None,
        now_ms: int,
    ) -> None:
        self.engine = engine
        self.request = request
        self.decision = decision
        self.event = event
        self.details = details
        self.now_ms = now_ms
        self.seq: int | None = None

    @property
    def written(self) -> bool:
        return self.seq is not None

    def write(self, sent: audit.Returned | None, *, failed: str | None = None) -> None:
        """Log the decision with what was `sent` (None: the request sent nothing of the
        person's, such as a manifest, or `failed` says why it stopped).

        Raises:
            ConfigError: the database's log key was not loaded.
        """
        if self.seq is not None:
            if sent is not None:
                logged = replace(self.decision, entry_seq=self.seq)
                record_returned(self.engine, logged, self.request, sent, now_ms=self.now_ms)
            return
        extra: dict[str, Any] = {}
        if sent is not None:
            extra["returned"] = sent.details()
        if failed is not None:
            extra["failed"] = failed
        with _one_writer(self.engine), self.engine.begin() as conn:
            entry = _record_decision(
                conn,
                self.request,
                self.decision,
                event=self.event,
                details={**(self.details or {}), **extra},
                now_ms=self.now_ms,
            )
        self.seq = entry.seq


def decide_for_actor(
    engine: Engine,
    reads: Engine,
    request: AccessRequest,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    refused: str | None = None,
) -> tuple[PersonData, DecisionEntry]:
    """Decide `request` and open the door within its scope; log a refusal now (committed).

    The consents and the person's "only me" restrictions are read in one read transaction,
    the restrictions in one query, so the door's readers need none. The allowed decision is
    not logged yet: the caller writes it, with what it returned, through the `DecisionEntry`
    before it answers.

    Raises:
        AccessDenied: no consent covers the request, or `refused` (logged either way).
    """
    if refused is not None:
        authorize(
            engine, request, event=event, details=details, now_ms=now_ms, refused=refused
        ).raise_if_denied()
        raise AssertionError("unreachable")  # pragma: no cover - a refusal is a denial
    with reads.connect() as conn:
        decision = decide(
            consents_for(conn, request.person_id, request.actor_id), request, now_ms=now_ms
        )
        scope = None
        if decision.allowed and decision.scope is not None:
            scope = restrictions.narrow(conn, request.person_id, decision.scope)
    if scope is None:
        with _one_writer(engine), engine.begin() as conn:
            _record_decision(conn, request, decision, event=event, details=details, now_ms=now_ms)
        decision.raise_if_denied()
        raise AssertionError("unreachable")  # pragma: no cover - a decision without scope
    accessor = Accessor(
        request.actor_id, decision.consent_id, decision.reason, decision=decision, asked=request
    )
    data = person_data._for_decision(
        engine, reads, request.person_id, scope, accessor, narrowed=True
    )
    return data, DecisionEntry(engine, request, decision, event, details, now_ms)


@dataclass(frozen=True, slots=True)
class CohortAccess:
    """The verdicts on one read of many persons' data (a study's cohort), as logged.

    `decisions` holds every person asked, allowed or not, each with its entry's `seq`;
    `data` is the door to the allowed ones, each within their own scope.
    """

    decisions: Mapping[int, Decision]
    data: CohortData


def open_for_cohort(
    engine: Engine,
    reads: Engine,
    person_ids: Iterable[int],
    actor_id: int,
    *,
    categories: Iterable[str],
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    consent_ids: Mapping[int, int] | None = None,
) -> CohortAccess:
    """Decide one read by `actor_id` of `categories` for each of `person_ids` (a study's
    participants), log every verdict (committed), and open the door to those allowed.
    `consent_ids` binds a person's request to one consent (the one they joined a study
    with), so another consent of theirs for the same actor never widens the read.

    The same decision and the same entry as `open_for_actor` gives each person one at a
    time, in a few statements for all of them: the consents in one query, what each person
    marked "only me" or wrong in one more (both in one read transaction, as
    `decide_for_actor` reads them), and the entries appended in one batch that keeps each
    person's chain (`audit.record_many`). A person refused contributes nothing; their
    refusal is in their log like any other.
    """
    wanted = frozenset(categories)
    ids = sorted(set(person_ids))
    pinned = consent_ids or {}
    requests = {
        p: AccessRequest(p, actor_id, Action.READ, categories=wanted, consent_id=pinned.get(p))
        for p in ids
    }
    with reads.connect() as conn:
        found = consents_for_cohort(conn, ids, actor_id)
        decisions = {p: decide(found[p], requests[p], now_ms=now_ms) for p in ids}
        granted = {p: d.scope for p, d in decisions.items() if d.allowed and d.scope is not None}
        scopes = restrictions.narrow_cohort(conn, granted)
    logged_details: dict[int, dict[str, Any]] = {}  # every request asks the same
    drafts = [
        _decision_draft(
            requests[p], decisions[p], event=event, details=details, logged=logged_details
        )
        for p in ids
    ]
    with _one_writer(engine), engine.begin() as conn:
        seqs = audit.record_many(conn, drafts, now_ms=now_ms)
    logged = {p: replace(decisions[p], entry_seq=seqs[p]) for p in ids}
    accessors = {
        p: Accessor(
            actor_id, logged[p].consent_id, logged[p].reason, decision=logged[p], asked=requests[p]
        )
        for p in scopes
    }
    return CohortAccess(logged, person_data._for_cohort(engine, reads, scopes, accessors))


def refuse_cohort(
    engine: Engine,
    person_ids: Iterable[int],
    actor_id: int,
    refused: str,
    *,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
) -> None:
    """Log a refusal decided before any consent (a study's request that fails its checks)
    for each of `person_ids`, as `authorize(..., refused=...)` would, in one batch."""
    refusal = Decision(False, refused)
    logged_details: dict[int, dict[str, Any]] = {}
    drafts = [
        _decision_draft(
            AccessRequest(p, actor_id, Action.READ),
            refusal,
            event=event,
            details=details,
            logged=logged_details,
        )
        for p in sorted(set(person_ids))
    ]
    with _one_writer(engine), engine.begin() as conn:
        audit.record_many(conn, drafts, now_ms=now_ms)


@dataclass(frozen=True, slots=True)
class LinkAccess:
    """The verdict on one request through a share link, as logged.

    `status` is the HTTP answer the SMART Health Links protocol gives: 200, 401 (a wrong
    passcode, with `remaining_attempts`) or 404 (unknown, revoked, expired or locked). `data`
    is the door within the link's grant, for an allowed request only.
    """

    allowed: bool
    reason: str
    status: int
    link: ShareLink | None = None
    data: PersonData | None = None
    remaining_attempts: int | None = None
    decision: Decision | None = None
    records: PersonData | None = None  # a daily link's records from healthcare (whole)


def open_for_link(
    engine: Engine,
    reads: Engine,
    *,
    token: str | None = None,
    link_id: tuple[int, int] | None = None,
    passcode_ok: Callable[[ShareLink], bool] | None = None,
    by_person: bool = False,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    refused: str | None = None,
    needs_flag: str | None = None,
) -> LinkAccess:
    """Decide a request through a share link against its grant, log it (committed) with the
    link as `via`, and open the door within the grant when allowed.

    The link is found by the holder's `token` (the manifest URL's random part), or by
    `link_id` (its person's id and its own) for the person's own act (`by_person`: making
    the link's file) or a file URL the manifest gave. `passcode_ok`
    checks the passcode a holder gave (slow: argon2) before the person's log is locked; a
    wrong one counts one attempt down in the same transaction as its log entry, so parallel
    requests cannot pass the limit. A token that names no link is refused without an entry:
    there is no person to log it for. `refused` is a refusal decided before the link (an
    expired file URL): logged as the denial, with that reason, answered 404. `needs_flag` is a
    flag the request needs the link to have (`U` for a GET of the file itself).
    """
    with reads.connect() as conn:
        found = share_links.by_token(conn, token) if token is not None else None
        if link_id is not None:
            found = share_links.get(conn, *link_id)
    if found is None:
        return LinkAccess(False, "no such share link", 404)
    passcode_right = True
    if "P" in found.flags and not by_person:
        passcode_right = passcode_ok is not None and passcode_ok(found)
    with _one_writer(engine), engine.begin() as conn:
        slot = audit.reserve(conn, found.person_id)
        link = share_links.get(conn, found.person_id, found.id)
        assert link is not None  # links are revoked, never deleted
        state = link.state_at(now_ms)
        remaining: int | None = None
        status = 200
        if state == "revoked":
            reason = f"share link {link.id} was revoked on {format_day(link.revoked_ms)}"
        elif state == "expired":
            reason = f"share link {link.id} expired on {format_day(link.expires_ms)}"
        elif state == "locked":
            reason = f"share link {link.id} is locked after too many wrong passcodes"
        elif refused is not None:
            reason = refused
        elif needs_flag is not None and needs_flag not in link.flags:
            reason = f"share link {link.id} is not a {needs_flag} link"
            refused = reason
        elif not passcode_right:
            remaining = share_links.use_attempt(conn, link.id)
            status = 401
            reason = f"wrong passcode for share link {link.id}; {remaining} attempts left"
        else:
            reason = f"share link {link.id}: {_link_summary(link)}"
        allowed = status == 200 and state == "active" and refused is None
        if not allowed and status == 200:
            status = 404
        decision = Decision(allowed, reason, scope=link.scope() if allowed else None)
        entry = audit.record(
            conn,
            link.person_id,
            None,
            event,
            decision,
            {**(details or {}), "link": link.id, "categories": sorted(link.categories)},
            now_ms=now_ms,
            slot=slot,
            done_by=audit.DoneBy.PERSON if by_person else audit.DoneBy.RECIPIENT,
            via=link.via,
        )
    decision = replace(decision, entry_seq=entry.seq)
    if not allowed:
        return LinkAccess(False, reason, status, link, None, remaining, decision)
    accessor = Accessor(None, None, reason, decision=decision, via=link.via)
    data = person_data._for_decision(engine, reads, link.person_id, link.scope(), accessor)
    records_scope = link.records_scope()
    records = None
    if records_scope is not None:
        records = person_data._for_decision(engine, reads, link.person_id, records_scope, accessor)
    return LinkAccess(True, reason, 200, link, data, None, decision, records)


def open_for_delegate(
    engine: Engine,
    reads: Engine,
    *,
    delegate_id: int,
    person_id: int,
    action: DelegateAction,
    event: str,
    details: Mapping[str, Any] | None = None,
    now_ms: int,
    age_limit: int = delegation_rules.DEFAULT_AGE_LIMIT,
) -> PersonData:
    """Decide a request by someone acting for the person against the delegations as they are
    now (revoked, ended, a child past the age limit), log it in the person's log (committed),
    naming the delegate and the delegation, then open the door within the role's scope.

    Raises:
        NotFound: no such person.
        AccessDenied: no live delegation allows `action` (logged either way).
    """
    with reads.connect() as conn:
        person = delegations.party(conn, person_id)
        delegate = delegations.party(conn, delegate_id)
    if person is None or delegate is None:
        raise NotFound("There is no such person in this pod.")
    with _one_writer(engine), engine.begin() as conn:
        slot = audit.reserve(conn, person_id)
        found = delegations.between(conn, person_id, delegate_id)
        decision, used = delegation_rules.decide(
            found,
            person=person,
            delegate_id=delegate_id,
            action=action,
            now_ms=now_ms,
            age_limit=age_limit,
        )
        entry = audit.record(
            conn,
            person_id,
            None,
            event,
            decision,
            {
                **(details or {}),
                "action": action.value,
                "delegate_id": delegate_id,
                "delegate": delegate.shown_name,
            },
            now_ms=now_ms,
            slot=slot,
            done_by=audit.DoneBy.DELEGATE,
            via=used.via if used is not None else "delegation",
        )
    decision = replace(decision, entry_seq=entry.seq)
    if not decision.allowed or decision.scope is None or used is None:
        raise AccessDenied(
            f"You may not do this for {person.shown_name}: {decision.reason}.",
            hint="Ask them (or the pod's operator, for a guardianship) for a delegation.",
        )
    accessor = Accessor(
        None, None, decision.reason, decision=decision, via=used.via, delegate_id=delegate_id
    )
    return person_data._for_decision(engine, reads, person_id, decision.scope, accessor)


def link_returned(engine: Engine, access: LinkAccess, ids: Iterable[str], *, now_ms: int) -> None:
    """Log what a share link's file holds (a `returned` entry referring to the decision)."""
    if access.link is None or access.decision is None or access.decision.entry_seq is None:
        return
    sent = audit.Returned(ids)
    with _one_writer(engine), engine.begin() as conn:
        audit.record(
            conn,
            access.link.person_id,
            None,
            audit.RETURNED,
            "ok",
            sent.details(),
            now_ms=now_ms,
            reason=f"returned {sent.count} resource{'' if sent.count == 1 else 's'}",
            refers_to=access.decision.entry_seq,
            done_by=audit.DoneBy.PERSON,
            via=access.link.via,
        )


def _link_summary(link: ShareLink) -> str:
    parts = [", ".join(sorted(link.categories)) or "no categories"]
    parts.append("daily summaries only" if link.scope().daily_only else "raw samples")
    if link.data_from_ms is not None or link.data_to_ms is not None:
        parts.append(
            f"data {format_day(link.data_from_ms, '…')} to {format_day(link.data_to_ms, '…')}"
        )
    parts.append(f"until {format_day(link.expires_ms)}")
    return "; ".join(parts)


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
    entry = _record_decision(
        conn, request, decision, event=event, details=details, now_ms=now_ms, slot=slot
    )
    return replace(decision, entry_seq=entry.seq)


def _record_decision(
    conn: Connection,
    request: AccessRequest,
    decision: Decision,
    *,
    event: str,
    details: Mapping[str, Any] | None,
    now_ms: int,
    slot: audit.Slot | None = None,
) -> audit.LogEntry:
    return audit.record(
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


def _decision_draft(
    request: AccessRequest,
    decision: Decision,
    *,
    event: str,
    details: Mapping[str, Any] | None,
    logged: dict[int, dict[str, Any]] | None = None,
) -> audit.Draft:
    """The entry `_record_decision` writes, for `audit.record_many`. `logged` keeps the
    details once for a batch whose requests ask the same (`record_many` then turns them into
    JSON once, not once per person)."""
    asked = None if logged is None else logged.get(id(details))
    if asked is None:
        asked = {**(details or {}), "action": request.action.value, **_wanted(request)}
        if logged is not None:
            logged[id(details)] = asked
    return audit.Draft(
        request.person_id,
        request.actor_id,
        event,
        decision,
        asked,
        consent_id=decision.consent_id or request.consent_id,
    )


def _wanted(request: AccessRequest) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    if request.categories:
        wanted["categories"] = sorted(request.categories)
    if request.resource_type:
        wanted["resource_type"] = request.resource_type
    return wanted
