"""A person's samples as pages and counts: what the overview, the type page and the statistics
list (the sweeps over them for statistics read `statistics`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, and_, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped


def _table(kind: str) -> Table:
    return schema.quantity_samples if kind == "quantity" else schema.category_samples


def per_type(read: Reader) -> list[tuple[int, int, int, int]]:
    """(type id, samples, first start_ms, last start_ms) of each type the person has."""
    result = []
    for t in (schema.quantity_samples, schema.category_samples):
        query = (
            select(t.c.type_id, func.count(), func.min(t.c.start_ms), func.max(t.c.start_ms))
            .where(t.c.person_id == read.person_id)
            .group_by(t.c.type_id)
        )
        for type_id, n, first, last in unscoped(read).execute(query):
            result.append((int(type_id), int(n), int(first), int(last)))
    return result


def page(
    read: Reader,
    type_id: int,
    kind: str,
    *,
    limit: int,
    offset: int,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> tuple[list[tuple[Any, ...]], int]:
    """One page of the type's samples, newest first, and how many there are; only those
    starting in [from_ms, to_ms) when given.

    Rows are (start_ms, end_ms, start_offset_min, value, source name), for a quantity its
    unit, then the row id and, when the person marked it wrong, the reason ("" without one;
    None when not marked); the value is the number of a quantity or the value code of a
    category.
    """
    table = _table(kind)
    s = schema.sources
    conn = unscoped(read)
    where = [table.c.person_id == read.person_id, table.c.type_id == type_id]
    if from_ms is not None:
        where.append(table.c.start_ms >= from_ms)
    if to_ms is not None:
        where.append(table.c.start_ms < to_ms)
    total = int(conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)
    value = table.c.value if kind == "quantity" else table.c.value_code
    columns: list[Any] = [
        table.c.start_ms,
        table.c.end_ms,
        table.c.start_offset_min,
        value,
        s.c.name,
    ]
    if kind == "quantity":
        columns.append(table.c.unit)
    m = schema.marked_wrong
    columns += [table.c.id, m.c.id, func.coalesce(m.c.reason, "")]
    marks = and_(
        m.c.person_id == table.c.person_id,
        m.c.kind == ("q" if kind == "quantity" else "c"),
        m.c.row_id == table.c.id,
    )
    rows = conn.execute(
        select(*columns)
        .select_from(table.join(s, s.c.id == table.c.source_id).outerjoin(m, marks))
        .where(*where)
        .order_by(table.c.start_ms.desc(), table.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [(*row[:-2], None if row[-2] is None else row[-1]) for row in rows], total


def per_source(
    read: Reader, type_id: int, kind: str, from_ms: int, to_ms: int
) -> dict[int, tuple[int, Any]]:
    """source id → (samples, last end_ms) of the type's samples starting in [from_ms, to_ms).

    One grouped query over the type's samples in the range (the person/type/start index).
    """
    table = _table(kind)
    rows = (
        unscoped(read)
        .execute(
            select(table.c.source_id, func.count(), func.max(table.c.end_ms))
            .where(
                table.c.person_id == read.person_id,
                table.c.type_id == type_id,
                table.c.start_ms >= from_ms,
                table.c.start_ms < to_ms,
            )
            .group_by(table.c.source_id)
        )
        .all()
    )
    return {int(source_id): (int(n), last_ms) for source_id, n, last_ms in rows}


def activity_summary_values(read: Reader, column: str) -> dict[Any, Any]:
    """day → one column of the ActivitySummary rows Apple wrote (None values left out)."""
    a = schema.activity_summaries
    return {
        day: value
        for day, value in unscoped(read).execute(
            select(a.c.date_on, a.c[column]).where(a.c.person_id == read.person_id)
        )
        if value is not None
    }


def ranges(
    read: Reader, import_ids: Sequence[int] | None, codes: Collection[str] | None = None
) -> dict[str, tuple[int, int]]:
    """{type code: (min start_ms, max end_ms)} of the person's samples, of some imports and
    type codes if given (codes narrow the scan to those types' part of the index)."""
    found: dict[str, tuple[int, int]] = {}
    st = schema.sample_types
    for t in (schema.quantity_samples, schema.category_samples):
        query = (
            select(st.c.code, func.min(t.c.start_ms), func.max(t.c.end_ms))
            .join(st, st.c.id == t.c.type_id)
            .where(t.c.person_id == read.person_id)
            .group_by(st.c.code)
        )
        if import_ids is not None:
            query = query.where(t.c.import_id.in_(import_ids))
        if codes is not None:
            query = query.where(st.c.code.in_(sorted(codes)))
        for code, lo, hi in read.conn.execute(query):
            found[str(code)] = (int(lo), int(hi))
    return found


def count_starting(read: Reader, type_id: int, kind: str, from_ms: int, to_ms: int) -> int:
    """How many samples of the type start in [from_ms, to_ms] (both included)."""
    t = _table(kind)
    return int(
        read.conn.scalar(
            select(func.count()).where(
                t.c.person_id == read.person_id,
                t.c.type_id == type_id,
                t.c.start_ms >= from_ms,
                t.c.start_ms <= to_ms,
            )
        )
        or 0
    )
