"""Records from healthcare as the person's own pages list them: newest first, as stored."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped

_r = schema.resources


def _listing(read: Reader, skipped_types: Collection[str]) -> Select[Any]:
    return select(
        _r.c.resource_type,
        _r.c.category,
        _r.c.json,
        _r.c.effective_start_ms,
        _r.c.source_file,
        _r.c.organisation,
        _r.c.provenance,
    ).where(_r.c.person_id == read.person_id, _r.c.resource_type.not_in(list(skipped_types)))


def timeline(read: Reader, skipped_types: Collection[str], limit: int) -> list[Any]:
    """The latest records with a clinical date, newest first (rows: resource_type, category,
    json, effective_start_ms, source_file, organisation, provenance)."""
    query = (
        _listing(read, skipped_types)
        .where(_r.c.effective_start_ms.is_not(None))
        .order_by(_r.c.effective_start_ms.desc())
        .limit(limit)
    )
    return list(unscoped(read).execute(query))


def of_category(
    read: Reader, category: str, skipped_types: Collection[str], limit: int
) -> list[Any]:
    """The latest records of one consent category, newest first (undated ones last)."""
    query = (
        _listing(read, skipped_types)
        .where(_r.c.category == category)
        .order_by(_r.c.effective_start_ms.desc().nulls_last(), _r.c.id.desc())
        .limit(limit)
    )
    return list(unscoped(read).execute(query))
