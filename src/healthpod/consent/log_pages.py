"""The access log as the person's own pages read it: a filtered page of entries, what each
request returned, and when each consent was last used. The log's writer and its chain are in
`audit`; these only read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from healthpod.consent.audit import DoneBy
from healthpod.store import rls, schema

_log = schema.access_log
# What the page's "Result" filter means: an actor allowed, anything refused or failed, and
# the person's own acts.
OUTCOME_GROUPS = ("allowed", "denied", "done")


def entries(
    conn: Connection,
    person_id: int,
    *,
    by_person: bool = False,
    actor_id: int | None = None,
    outcome: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    before_seq: int | None = None,
    limit: int,
) -> tuple[list[Any], dict[Any, Any]]:
    """Up to `limit` entries (mappings), newest first, that are not `returned` entries, and
    for those what each returned, by its seq (a mapping with `details`: count and ids or
    their digest), from its own `details["returned"]` or the `returned` entry that refers
    to it (a stream's). `outcome` is one of OUTCOME_GROUPS."""
    rls.act_for(conn, person_id)
    query = select(_log).where(_log.c.person_id == person_id, _log.c.refers_to.is_(None))
    if by_person:
        query = query.where(_log.c.done_by == DoneBy.PERSON.value)
    if actor_id is not None:
        query = query.where(_log.c.actor_id == actor_id)
    if outcome == "allowed":
        query = query.where(
            _log.c.outcome.in_(("allowed", "ok")), _log.c.done_by != DoneBy.PERSON.value
        )
    elif outcome == "denied":
        query = query.where(_log.c.outcome.in_(("denied", "failed")))
    elif outcome == "done":
        query = query.where(_log.c.outcome == "ok", _log.c.done_by == DoneBy.PERSON.value)
    if from_ms is not None:
        query = query.where(_log.c.at_ms >= from_ms)
    if to_ms is not None:
        query = query.where(_log.c.at_ms < to_ms)
    if before_seq is not None:
        query = query.where(_log.c.seq < before_seq)
    rows = list(conn.execute(query.order_by(_log.c.seq.desc()).limit(limit)).mappings())
    returned: dict[Any, Any] = {
        row["seq"]: {"details": row["details"]["returned"]}
        for row in rows
        if isinstance(row["details"], dict) and isinstance(row["details"].get("returned"), dict)
    }
    streamed = [row["seq"] for row in rows if row["seq"] not in returned]
    if streamed:
        returned.update(
            (row["refers_to"], row)
            for row in conn.execute(
                select(_log.c.refers_to, _log.c.details).where(
                    _log.c.person_id == person_id, _log.c.refers_to.in_(streamed)
                )
            ).mappings()
        )
    return rows, returned


def last_accesses(conn: Connection, person_id: int) -> dict[int, int]:
    """Per consent, when its actor last got data under it."""
    rls.act_for(conn, person_id)
    rows = conn.execute(
        select(_log.c.consent_id, func.max(_log.c.at_ms))
        .where(
            _log.c.person_id == person_id,
            _log.c.outcome == "allowed",
            _log.c.consent_id.is_not(None),
        )
        .group_by(_log.c.consent_id)
    )
    return {int(consent_id): int(at) for consent_id, at in rows}
