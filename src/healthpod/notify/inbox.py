"""The inbox: notifications made from what the access log says happened.

Nothing on the path of a request writes a notification (every request already writes its
log entry, the one record of what happened); `refresh` reads the person's log entries that
came after the last one it saw and makes the notifications they call for:

| log entry | notification |
| --- | --- |
| an actor's, a link holder's or a delegate's request, denied | access refused |
| an actor's first allowed request | an actor's first read (once per actor) |
| a share link's manifest or file, allowed | a share link opened (once a day per link) |
| a delegate's request, allowed | a delegate's action (once a day per delegate and action) |
| `consent.granted` | a new consent |

Besides the log: a consent that ends within `EXPIRING_DAYS` (once per consent and end), and a
guardianship that ended at the age limit (both are told, once). `refresh` runs when the inbox
is shown and before each digest; it holds the person's notification row locked, so two runs
never tell the same entry twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from healthpod.consent import actors, audit
from healthpod.consent import store as consent_store
from healthpod.consent.delegation import DEFAULT_AGE_LIMIT, State, state_at
from healthpod.consent.model import ConsentState, format_day
from healthpod.store import delegations, notifications
from healthpod.store.notifications import Notification

DAY_MS = 86_400_000
EXPIRING_DAYS = 7
BATCH = 2000


@dataclass(frozen=True, slots=True)
class Inbox:
    notifications: list[Notification]
    unread: int


def refresh(
    engine: Engine, person_id: int, *, now_ms: int, age_limit: int = DEFAULT_AGE_LIMIT
) -> int:
    """Make the person's notifications from what happened since the last refresh; returns how
    many were added."""
    with engine.begin() as conn:
        notifications.save_prefs(conn, person_id)  # locks the person's row until commit
        seen = notifications.prefs(conn, person_id).log_seq
        names = {a.id: a.name for a in actors.list_actors(conn)}
        told: set[str] = set()  # keys tried in this run: a key is told once, so try it once
        added = 0
        while True:
            page = audit.entries(conn, person_id, after_seq=seen, limit=BATCH)
            for entry in page:
                added += _from_entry(conn, entry, names, told)
            if page:
                seen = page[-1].seq
            if len(page) < BATCH:
                break
        notifications.save_prefs(conn, person_id, log_seq=seen)
        added += _expiring(conn, person_id, names, now_ms)
        added += _guardianships_ended(conn, person_id, now_ms, age_limit)
    return added


def _from_entry(
    conn: Connection, entry: audit.LogEntry, names: dict[int, str], told: set[str]
) -> int:
    if entry.done_by == audit.DoneBy.PERSON or entry.event == audit.RETURNED:
        if entry.event == "consent.granted" and entry.actor_id is not None:
            who = names.get(entry.actor_id, f"actor {entry.actor_id}")
            return _add(conn, entry, notifications.CONSENT_NEW, {"who": who}, told)
        return 0
    who, kind_of = _who(entry, names)
    day = format_day(entry.at_ms)
    if entry.outcome == "denied":
        return _add(conn, entry, notifications.ACCESS_REFUSED, {"who": who, "by": kind_of}, told)
    if entry.outcome != "allowed":
        return 0
    if entry.done_by == audit.DoneBy.ACTOR and entry.actor_id is not None:
        key = f"first:{entry.actor_id}"
        return _add(conn, entry, notifications.FIRST_READ, {"who": who}, told, key=key)
    if entry.done_by == audit.DoneBy.RECIPIENT and entry.event.startswith("share_link."):
        key = f"opened:{entry.via}:{day}"
        return _add(conn, entry, notifications.LINK_OPENED, {"who": who}, told, key=key)
    if entry.done_by == audit.DoneBy.DELEGATE:
        action = str(entry.details.get("action", "read"))
        key = f"delegate:{entry.details.get('delegate_id')}:{action}:{day}"
        params = {"who": who, "action": action}
        return _add(conn, entry, notifications.DELEGATE_ACTION, params, told, key=key)
    return 0


def _who(entry: audit.LogEntry, names: dict[int, str]) -> tuple[str, str]:
    """Who acted, as the person knows them: an actor's name, a share link, a delegate."""
    if entry.done_by == audit.DoneBy.DELEGATE:
        return str(entry.details.get("delegate", "a delegate"))[:200], "delegate"
    if entry.done_by == audit.DoneBy.RECIPIENT:
        link = entry.details.get("link")
        return (f"share link {link}" if link is not None else "a share link"), "link"
    if entry.actor_id is not None:
        return names.get(entry.actor_id, f"actor {entry.actor_id}"), "actor"
    return "someone", "other"


def _add(
    conn: Connection,
    entry: audit.LogEntry,
    kind: str,
    params: dict[str, str],
    told: set[str],
    *,
    key: str | None = None,
) -> int:
    if key is not None:
        if key in told:
            return 0
        told.add(key)
    return int(notifications.add(conn, entry.person_id, kind, params, now_ms=entry.at_ms, key=key))


def _expiring(conn: Connection, person_id: int, names: dict[int, str], now_ms: int) -> int:
    added = 0
    for consent in consent_store.list_consents(conn, person_id):
        until = consent.valid_until_ms
        if until is None or consent.state_at(now_ms) is not ConsentState.ACTIVE:
            continue
        if until - now_ms > EXPIRING_DAYS * DAY_MS:
            continue
        params = {
            "who": names.get(consent.actor_id, f"actor {consent.actor_id}"),
            "day": format_day(until - 1),
        }
        added += int(
            notifications.add(
                conn,
                person_id,
                notifications.CONSENT_EXPIRING,
                params,
                now_ms=now_ms,
                key=f"expiring:{consent.id}:{until}",
            )
        )
    return added


def _guardianships_ended(conn: Connection, person_id: int, now_ms: int, age_limit: int) -> int:
    """Tell the young person and the guardian, once, that a guardianship ended by age."""
    added = 0
    for d in delegations.involving(conn, person_id):
        if d.kind != "guardian" or d.revoked_ms is not None or d.ended_noticed_ms is not None:
            continue
        child = delegations.party(conn, d.person_id)
        guardian = delegations.party(conn, d.delegate_id)
        if child is None or guardian is None:
            continue
        if state_at(d, child, now_ms=now_ms, age_limit=age_limit) is not State.AGED_OUT:
            continue
        if not delegations.mark_end_noticed(conn, d.id, now_ms=now_ms):
            continue
        for told, other in ((child, guardian), (guardian, child)):
            added += int(
                notifications.add(
                    conn,
                    told.person_id,
                    notifications.GUARDIANSHIP_ENDED,
                    {"who": other.shown_name, "age": str(age_limit), "child": child.shown_name},
                    now_ms=now_ms,
                    key=f"guardian-ended:{d.id}",
                )
            )
    return added


def end_guardianships(engine: Engine, *, now_ms: int, age_limit: int = DEFAULT_AGE_LIMIT) -> int:
    """Tell both of every guardianship that ended by age and was not told yet (the digest
    command runs this for everyone; the decision itself never waits for it)."""
    with engine.begin() as conn:
        people = {d.person_id for d in delegations.unnoticed_guardianships(conn)}
        return sum(_guardianships_ended(conn, p, now_ms, age_limit) for p in sorted(people))


def show(
    engine: Engine, person_id: int, *, now_ms: int, age_limit: int = DEFAULT_AGE_LIMIT
) -> Inbox:
    """Refresh, then the person's newest notifications and how many are unread."""
    refresh(engine, person_id, now_ms=now_ms, age_limit=age_limit)
    with engine.connect() as conn:
        return Inbox(
            notifications.listing(conn, person_id),
            notifications.unread_count(conn, person_id),
        )


def mark_read(engine: Engine, person_id: int, *, now_ms: int) -> int:
    with engine.begin() as conn:
        return notifications.mark_read(conn, person_id, now_ms=now_ms)


def set_digests(
    engine: Engine, person_id: int, *, email: str | None, digests: dict[str, str]
) -> None:
    """Save where and how often digests go (the caller checked the values)."""
    with engine.begin() as conn:
        notifications.save_prefs(conn, person_id, email=email, digests=digests)


def prefs(engine: Engine, person_id: int) -> notifications.Prefs:
    with engine.connect() as conn:
        return notifications.prefs(conn, person_id)
