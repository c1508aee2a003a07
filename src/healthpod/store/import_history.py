"""The person's imports as a history: which files, when, what they added."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped

_i = schema.imports


def recent(read: Reader, limit: int) -> list[dict[str, Any]]:
    """The latest imports, newest first (id, filename, format, status, added, already_present,
    started_ms, finished_ms, error)."""
    rows = (
        unscoped(read)
        .execute(
            select(
                _i.c.id,
                _i.c.filename,
                _i.c.format,
                _i.c.status,
                _i.c.added,
                _i.c.already_present,
                _i.c.started_ms,
                _i.c.finished_ms,
                _i.c.error,
            )
            .where(_i.c.person_id == read.person_id)
            .order_by(_i.c.started_ms.desc(), _i.c.id.desc())
            .limit(limit)
        )
        .mappings()
    )
    return [dict(row) for row in rows]


def count(read: Reader) -> int:
    """How many imports the person has."""
    query = select(func.count()).select_from(_i).where(_i.c.person_id == read.person_id)
    return int(unscoped(read).scalar(query) or 0)
