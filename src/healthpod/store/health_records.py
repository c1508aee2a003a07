"""Records from healthcare as the person's own pages list them: newest first, as stored,
filtered by kind (the consent category) and period, a page at a time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped

_r = schema.resources


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records: the resource types left out, a category, a period in epoch ms."""

    skipped_types: Collection[str]
    category: str | None = None
    from_ms: int | None = None  # inclusive
    to_ms: int | None = None  # exclusive


def _where(read: Reader, found: RecordFilter) -> list[ColumnElement[bool]]:
    clauses = [
        _r.c.person_id == read.person_id,
        _r.c.resource_type.not_in(list(found.skipped_types)),
    ]
    if found.category:
        clauses.append(_r.c.category == found.category)
    if found.from_ms is not None:
        clauses.append(_r.c.effective_start_ms >= found.from_ms)
    if found.to_ms is not None:
        clauses.append(_r.c.effective_start_ms < found.to_ms)
    return clauses


def _listing(read: Reader, found: RecordFilter) -> Select[Any]:
    return (
        select(
            _r.c.resource_type,
            _r.c.category,
            _r.c.json,
            _r.c.effective_start_ms,
            _r.c.source_file,
            _r.c.organisation,
            _r.c.provenance,
        )
        .where(*_where(read, found))
        .order_by(_r.c.effective_start_ms.desc().nulls_last(), _r.c.id.desc())
    )


def kinds(read: Reader, skipped_types: Collection[str]) -> dict[str, int]:
    """How many records the person has of each category."""
    query = (
        select(_r.c.category, func.count())
        .where(*_where(read, RecordFilter(skipped_types)))
        .group_by(_r.c.category)
    )
    return {str(category): int(count) for category, count in unscoped(read).execute(query)}


def page(read: Reader, found: RecordFilter, *, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of records, newest first (undated ones last), and how many match in all
    (rows: resource_type, category, json, effective_start_ms, source_file, organisation,
    provenance)."""
    conn = unscoped(read)
    total = conn.scalar(select(func.count()).select_from(_r).where(*_where(read, found))) or 0
    rows = list(conn.execute(_listing(read, found).limit(limit).offset(offset)))
    return rows, int(total)


def every(read: Reader, found: RecordFilter) -> list[Any]:
    """Every matching record, newest first (for a filter on the shown text: a person's
    records from healthcare number in the hundreds or thousands, not millions)."""
    return list(unscoped(read).execute(_listing(read, found)))
