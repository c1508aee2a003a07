"""The daily summary table as the statistics read it: one row per person, type and local day.

How the rows are computed and kept up to date is the statistics' business
(`insights.summaries`); these are the queries, each through the person's door.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from healthpod.store import schema
from healthpod.store.engine import is_sqlite
from healthpod.store.person_data import Reader, Writer, unscoped

_d = schema.daily_summaries
# What a writer meets when another reader summarized the same import first (a unique key on
# PostgreSQL, a stale snapshot on SQLite): the rows are there, the loser rolls back.
RACED = (IntegrityError, OperationalError)
DayValues = tuple[Any, ...]  # (day_on, count, total, low, high, first_ms, last_ms, offset, sources)


def day_span(read: Reader, type_id: int) -> tuple[date, date] | None:
    """The first and the last day with a row of the type, or None."""
    return read.remembered(("day span", type_id), lambda: _day_span(read, type_id))


def _day_span(read: Reader, type_id: int) -> tuple[date, date] | None:
    lo, hi = (
        unscoped(read)
        .execute(
            select(func.min(_d.c.day_on), func.max(_d.c.day_on)).where(
                _d.c.person_id == read.person_id, _d.c.type_id == type_id
            )
        )
        .one()
    )
    return None if lo is None else (lo, hi)


def day_spans(read: Reader, type_ids: Sequence[int]) -> dict[int, tuple[date, date] | None]:
    """`day_span` of several types in one statement (one index lookup at each end per type,
    however long the person's history); each is remembered as `day_span` would."""
    wanted = sorted(set(type_ids))
    if not wanted:
        return {}
    missing = [t for t in wanted if not read.knows(("day span", t))]
    spans: dict[int, tuple[date, date] | None] = {}
    if missing:
        query = union_all(
            *(
                select(
                    literal(t).label("type_id"), func.min(_d.c.day_on), func.max(_d.c.day_on)
                ).where(_d.c.person_id == read.person_id, _d.c.type_id == t)
                for t in missing
            )
        )
        for type_id, lo, hi in unscoped(read).execute(query):
            spans[int(type_id)] = None if lo is None else (lo, hi)
            read.remember(("day span", int(type_id)), spans[int(type_id)])
    return {t: spans[t] if t in spans else day_span(read, t) for t in wanted}


def days_of_types(
    read: Reader, type_ids: Sequence[int], start: date, end: date
) -> dict[int, list[tuple[Any, ...]]]:
    """`days` (without sources) of several types in one statement, by type id."""
    found: dict[int, list[tuple[Any, ...]]] = {t: [] for t in type_ids}
    if not found:
        return found
    query = (
        select(_d.c.type_id, _d.c.day_on, _d.c.sample_count, _d.c.total, _d.c.low, _d.c.high)
        .where(
            _d.c.person_id == read.person_id,
            _d.c.type_id.in_(list(found)),
            _d.c.day_on >= start,
            _d.c.day_on <= end,
        )
        .order_by(_d.c.type_id, _d.c.day_on)
    )
    for type_id, *values in unscoped(read).execute(query):
        found[int(type_id)].append((*values, None))
    return found


def days(
    read: Reader, type_id: int, start: date, end: date, *, with_sources: bool
) -> list[tuple[Any, ...]]:
    """(day, samples, total, low, high, by_source) of the days start..end (both included).

    `by_source` is read as text (JSON; a dict from PostgreSQL's driver), and only
    `with_sources` (the JSON type's per-row processing costs more than the rest together).
    """
    query = (
        select(
            _d.c.day_on,
            _d.c.sample_count,
            _d.c.total,
            _d.c.low,
            _d.c.high,
            type_coerce(_d.c.by_source, Text) if with_sources else literal(None),
        )
        .where(
            _d.c.person_id == read.person_id,
            _d.c.type_id == type_id,
            _d.c.day_on >= start,
            _d.c.day_on <= end,
        )
        .order_by(_d.c.day_on)
    )
    return [tuple(row) for row in unscoped(read).execute(query).all()]


def rows(
    read: Reader, type_ids: Sequence[int], from_ms: int | None, to_ms: int | None
) -> list[Any]:
    """Whole rows (mappings) of these types, by type and day, whose samples lie in
    [from_ms, to_ms) (their first and last sample's start)."""
    query = (
        select(_d)
        .where(_d.c.person_id == read.person_id, _d.c.type_id.in_(list(type_ids)))
        .order_by(_d.c.type_id, _d.c.day_on)
    )
    if from_ms is not None:
        query = query.where(_d.c.first_ms >= from_ms)
    if to_ms is not None:
        query = query.where(_d.c.last_ms < to_ms)
    return list(unscoped(read).execute(query).mappings())


def rows_since(read: Reader, windows: dict[int, int]) -> list[Any]:
    """Whole rows (mappings), by type and day, of each type whose samples start at or after
    its own `windows[type_id]` (epoch ms): what `rows(read, [type_id], from_ms, None)` gives
    for each, in one statement."""
    if not windows:
        return []
    query = (
        select(_d)
        .where(
            _d.c.person_id == read.person_id,
            or_(
                *(
                    and_(_d.c.type_id == type_id, _d.c.first_ms >= from_ms)
                    for type_id, from_ms in sorted(windows.items())
                )
            ),
        )
        .order_by(_d.c.type_id, _d.c.day_on)
    )
    return list(unscoped(read).execute(query).mappings())


def day_bounds(read: Reader, type_id: int, day: date) -> tuple[Any, Any, Any] | None:
    """(first_ms, last_ms, first_offset_min) of one type's row of one day, or None."""
    row = (
        unscoped(read)
        .execute(
            select(_d.c.first_ms, _d.c.last_ms, _d.c.first_offset_min).where(
                _d.c.person_id == read.person_id, _d.c.type_id == type_id, _d.c.day_on == day
            )
        )
        .first()
    )
    return None if row is None else (row.first_ms, row.last_ms, row.first_offset_min)


def last_day(read: Reader) -> date | None:
    """The last day with a row of any type."""
    found: date | None = unscoped(read).scalar(
        select(func.max(_d.c.day_on)).where(_d.c.person_id == read.person_id)
    )
    return found


def sources_by_day(read: Reader, start: date, end: date) -> list[tuple[date, Any]]:
    """(day, by_source) of every row from start to end (both included) that has sources."""
    found = unscoped(read).execute(
        select(_d.c.day_on, _d.c.by_source).where(
            _d.c.person_id == read.person_id,
            _d.c.day_on >= start,
            _d.c.day_on <= end,
            _d.c.by_source.is_not(None),
        )
    )
    return [(day, by_source) for day, by_source in found]


def latest_offset_min(read: Reader) -> int:
    """The UTC offset of the person's latest day with data (0 when there is none yet)."""
    found = unscoped(read).scalar(
        select(_d.c.first_offset_min)
        .where(_d.c.person_id == read.person_id, _d.c.first_offset_min.is_not(None))
        .order_by(_d.c.day_on.desc())
        .limit(1)
    )
    return int(found or 0)


# --- kept up to date (derived data: any door's writer may bring it up to date) ---------------


def replace_days(
    write: Writer, type_id: int, first_on: date, end_on: date, values: Sequence[DayValues]
) -> int:
    """Replace the type's rows of the days [first_on, end_on) with `values`; how many."""
    write.forget()
    conn = write.conn
    conn.execute(
        delete(_d).where(
            _d.c.person_id == write.person_id,
            _d.c.type_id == type_id,
            _d.c.day_on >= first_on,
            _d.c.day_on < end_on,
        )
    )
    if not values:
        return 0
    rows = [(write.person_id, type_id, *v) for v in values]
    if is_sqlite(conn.engine):
        # Straight to the driver: SQLAlchemy's per-row parameter processing cost more than
        # the insert. Stored as SQLAlchemy stores them: ISO dates and JSON text.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            _INSERT_DAYS,
            [
                (*v[:2], v[2].isoformat(), *v[3:10], None if v[10] is None else json.dumps(v[10]))
                for v in rows
            ],
        )
        cursor.close()
    else:
        conn.execute(insert(_d), [dict(zip(_DAY_COLUMNS, v, strict=True)) for v in rows])
    return len(rows)


_DAY_COLUMNS = tuple(c.name for c in _d.columns)
_INSERT_DAYS = (
    f"INSERT INTO {_d.name} ({', '.join(_DAY_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_DAY_COLUMNS))})"
)


def delete_rows(write: Writer, type_id: int | None = None) -> None:
    """Drop the person's rows (of one type, if given), before computing them again."""
    write.forget()
    query = delete(_d).where(_d.c.person_id == write.person_id)
    if type_id is not None:
        query = query.where(_d.c.type_id == type_id)
    write.conn.execute(query)


def pending_imports(read: Reader) -> list[int]:
    """The person's imports whose samples are not in the daily rows yet."""
    i, si = schema.imports, schema.summarized_imports
    return [
        int(found)
        for found in read.conn.scalars(
            select(i.c.id)
            .outerjoin(si, si.c.import_id == i.c.id)
            .where(and_(i.c.person_id == read.person_id, si.c.import_id.is_(None)))
        )
    ]


def import_ids(read: Reader) -> list[int]:
    """Every import of the person."""
    i = schema.imports
    return [
        int(x) for x in read.conn.scalars(select(i.c.id).where(i.c.person_id == read.person_id))
    ]


def mark_summarized(write: Writer, import_ids: Sequence[int]) -> None:
    """Note that these imports' samples are in the daily rows."""
    si = schema.summarized_imports
    conn = write.conn
    done = set(conn.scalars(select(si.c.import_id).where(si.c.import_id.in_(import_ids))))
    now = time.time_ns() // 1_000_000
    fresh = [
        {"import_id": i, "person_id": write.person_id, "summarized_ms": now}
        for i in import_ids
        if i not in done
    ]
    if fresh:
        conn.execute(insert(si), fresh)
