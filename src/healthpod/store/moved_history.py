"""The history a person brought from a pod they moved from (`moved_history`), read-only.

An export's import history, consents, the actors they named and the access log come into the
new pod as records of the old one, never as live grants (docs/export-format.md). This reads
them back for the person: the old pod's access log, newest first, with the actors' names and
the consents as that pod had them. Only the person's own door reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from healthpod.store import schema

_h = schema.moved_history
SHOWN = 200  # the newest entries of the old pod's access log shown at once


@dataclass(frozen=True, slots=True)
class PreviousEntry:
    """One entry of the old pod's access log, as it exported it."""

    seq: int
    at_ms: int
    done_by: str
    actor: str | None  # the actor's name in the old pod ("actor 3" when it did not say)
    event: str
    outcome: str
    reason: str
    consent_id: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at_ms": self.at_ms,
            "done_by": self.done_by,
            "actor": self.actor,
            "event": self.event,
            "outcome": self.outcome,
            "reason": self.reason,
            "consent_id": self.consent_id,
        }


@dataclass(frozen=True, slots=True)
class PreviousConsent:
    """A consent as the old pod had it when it was exported (never a live grant here)."""

    id: int
    actor: str | None
    purpose: str
    categories: list[str]
    status: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "purpose": self.purpose,
            "categories": self.categories,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class PreviousPod:
    """What the person kept of the pods they moved from."""

    entries: list[PreviousEntry]  # newest first, at most SHOWN
    total_entries: int
    consents: list[PreviousConsent]

    @property
    def any(self) -> bool:
        return bool(self.total_entries or self.consents)

    def as_json(self) -> dict[str, Any]:
        return {
            "access_log": [e.as_json() for e in self.entries],
            "access_log_total": self.total_entries,
            "consents": [c.as_json() for c in self.consents],
        }


def previous_pod(conn: Connection, person_id: int, *, limit: int = SHOWN) -> PreviousPod:
    """The person's history from earlier pods: the newest `limit` log entries and the consents."""
    counted = conn.execute(
        select(_h.c.kind, func.count())
        .where(_h.c.person_id == person_id, _h.c.kind.in_(["access_log", "consents", "actors"]))
        .group_by(_h.c.kind)
    ).all()
    counts: dict[str, int] = {str(kind): int(n) for kind, n in counted}
    if not counts:
        return PreviousPod([], 0, [])
    names = {
        str(r.get("id")): str(r.get("name") or "") for r in _records(conn, person_id, "actors")
    }
    entries = sorted(
        (_entry(r, names) for r in _records(conn, person_id, "access_log")),
        key=lambda e: (e.at_ms, e.seq),
        reverse=True,
    )
    consents = sorted(
        (_consent(r, names) for r in _records(conn, person_id, "consents")),
        key=lambda c: c.id,
    )
    return PreviousPod(entries[:limit], len(entries), consents)


def _records(conn: Connection, person_id: int, kind: str) -> list[Mapping[str, Any]]:
    rows = conn.scalars(select(_h.c.record).where(_h.c.person_id == person_id, _h.c.kind == kind))
    found = []
    for record in rows:
        if isinstance(record, str):  # a driver that hands JSON back as text
            record = json.loads(record)
        if isinstance(record, Mapping):
            found.append(record)
    return found


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _actor(actor_id: Any, names: Mapping[str, str]) -> str | None:
    if actor_id in (None, ""):
        return None
    return names.get(str(actor_id)) or f"actor {actor_id}"


def _entry(record: Mapping[str, Any], names: Mapping[str, str]) -> PreviousEntry:
    consent = record.get("consent_id")
    return PreviousEntry(
        seq=_int(record.get("seq")),
        at_ms=_int(record.get("at_ms")),
        done_by=str(record.get("done_by") or ""),
        actor=_actor(record.get("actor_id"), names),
        event=str(record.get("event") or ""),
        outcome=str(record.get("outcome") or ""),
        reason=str(record.get("reason") or ""),
        consent_id=_int(consent) if consent not in (None, "") else None,
    )


def _consent(record: Mapping[str, Any], names: Mapping[str, str]) -> PreviousConsent:
    categories = record.get("categories")
    if isinstance(categories, str):
        try:
            categories = json.loads(categories)
        except ValueError:
            categories = [categories]
    return PreviousConsent(
        id=_int(record.get("id")),
        actor=_actor(record.get("actor_id"), names),
        purpose=str(record.get("purpose") or ""),
        categories=[str(c) for c in categories] if isinstance(categories, list) else [],
        status=str(record.get("status") or ""),
    )
