"""Records from healthcare as the person's own pages list them: newest first, as stored,
filtered by kind (the consent category) and period, a page at a time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped

_r = schema.resources
_m = schema.marked_wrong


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
    marks = and_(_m.c.person_id == _r.c.person_id, _m.c.kind == "r", _m.c.row_id == _r.c.id)
    return (
        select(
            _r.c.resource_type,
            _r.c.category,
            _r.c.json,
            _r.c.effective_start_ms,
            _r.c.source_file,
            _r.c.organisation,
            _r.c.provenance,
            _r.c.fhir_id,
            _m.c.id.label("mark_id"),
            func.coalesce(_m.c.reason, "").label("wrong_reason"),
        )
        .select_from(_r.outerjoin(_m, marks))
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
    provenance, fhir_id, and mark_id and wrong_reason: None and "" unless marked wrong)."""
    conn = unscoped(read)
    total = conn.scalar(select(func.count()).select_from(_r).where(*_where(read, found))) or 0
    rows = list(conn.execute(_listing(read, found).limit(limit).offset(offset)))
    return rows, int(total)


def every(read: Reader, found: RecordFilter) -> list[Any]:
    """Every matching record, newest first (for a filter on the shown text: a person's
    records from healthcare number in the hundreds or thousands, not millions)."""
    return list(unscoped(read).execute(_listing(read, found)))
