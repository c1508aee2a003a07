"""A person's sources (apps and devices): their order of priority, and what each has sent.

The rules (what a priority means, how a type's own order goes first) are the statistics'
business (`insights.sources`); this module only reads and writes the rows, through the
person's door (`Reader`/`Writer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all, update

from healthpod.store import schema
from healthpod.store.person_data import Reader, Writer, unscoped


def person_order(read: Reader) -> list[int]:
    """The person's source ids in the person-wide order (priority, then the older source)."""
    s = schema.sources
    query = select(s.c.id).where(s.c.person_id == read.person_id).order_by(s.c.priority, s.c.id)
    # Any door's reader: the order decides how daily summaries are computed, it is not shown.
    return [int(i) for i in read.conn.scalars(query)]


def type_order(read: Reader, type_code: str) -> list[int]:
    """The sources with a place in this type's own order, best first."""
    p, st = schema.source_type_priorities, schema.sample_types
    query = (
        select(p.c.source_id)
        .join(st, st.c.id == p.c.type_id)
        .where(p.c.person_id == read.person_id, st.c.code == type_code)
        .order_by(p.c.priority, p.c.source_id)
    )
    return [int(i) for i in read.conn.scalars(query)]


def names(read: Reader) -> dict[int, str]:
    """id → name of each of the person's sources."""
    return read.remembered("source names", lambda: _names(read))


def _names(read: Reader) -> dict[int, str]:
    s = schema.sources
    rows = unscoped(read).execute(select(s.c.id, s.c.name).where(s.c.person_id == read.person_id))
    return {int(i): str(n) for i, n in rows}


def listed(read: Reader) -> list[tuple[int, str, str, int]]:
    """(id, name, kind, priority) of each source, in the person-wide order."""
    s = schema.sources
    query = (
        select(s.c.id, s.c.name, s.c.kind, s.c.priority)
        .where(s.c.person_id == read.person_id)
        .order_by(s.c.priority, s.c.id)
    )
    return [(int(i), str(n), str(k), int(p)) for i, n, k, p in unscoped(read).execute(query)]


def sample_counts(read: Reader) -> list[tuple[int, str, int, Any, Any]]:
    """(source id, type code, samples, first start_ms, last end_ms) per source and type."""
    per_table = [
        select(
            t.c.source_id,
            t.c.type_id,
            func.count().label("n"),
            func.min(t.c.start_ms).label("first_ms"),
            func.max(t.c.end_ms).label("last_ms"),
        )
        .where(t.c.person_id == read.person_id)
        .group_by(t.c.source_id, t.c.type_id)
        for t in (schema.quantity_samples, schema.category_samples)
    ]
    counts = union_all(*per_table).subquery()
    st = schema.sample_types
    rows = unscoped(read).execute(
        select(counts.c.source_id, st.c.code, counts.c.n, counts.c.first_ms, counts.c.last_ms).join(
            st, st.c.id == counts.c.type_id
        )
    )
    return [(int(sid), str(code), int(n), first, last) for sid, code, n, first, last in rows]


def set_person_order(write: Writer, source_ids: Sequence[int]) -> None:
    """Number the sources 1, 2, … in the order given (best first)."""
    s = schema.sources
    conn = unscoped(write)
    for rank, sid in enumerate(source_ids, start=1):
        conn.execute(
            update(s).where(s.c.id == sid, s.c.person_id == write.person_id).values(priority=rank)
        )


def set_type_order(write: Writer, type_id: int, source_ids: Sequence[int]) -> None:
    """Make `source_ids` (best first) the type's own order."""
    p = schema.source_type_priorities
    conn = unscoped(write)
    conn.execute(delete(p).where(p.c.person_id == write.person_id, p.c.type_id == type_id))
    if source_ids:
        conn.execute(
            insert(p),
            [
                {"person_id": write.person_id, "type_id": type_id, "source_id": i, "priority": n}
                for n, i in enumerate(dict.fromkeys(source_ids), start=1)
            ],
        )


def clear_type_order(write: Writer, type_id: int) -> bool:
    """Drop the type's own order; True if there was one."""
    p = schema.source_type_priorities
    removed = (
        unscoped(write)
        .execute(delete(p).where(p.c.person_id == write.person_id, p.c.type_id == type_id))
        .rowcount
    )
    return bool(removed)
