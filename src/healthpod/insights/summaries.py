"""The daily summary table: one row per person, type and local day, kept up to date.

Daily, weekly and monthly statistics, baselines and findings read this table instead of the
samples, so five years of one type is ~1,800 rows however many samples lie behind them.

How it stays true:
- The importer brings the days it touched up to date inside its own transaction
  (`store.imports.summarizing`, with `refresh` and `mark_summarized`); `summarize_import` does the
  same for one import in one go.
- `catch_up(conn, person_id)`: every reader calls this first; it summarizes any import that was
  not (an importer that did not call the hook, an older pod), so a stale row is never served.
  Edges (CLI, API) call `ensure_fresh(engine, person_id)` before opening their own transaction,
  so that racing readers never fail and SQLite readers never hold a snapshot older than it.
- `refresh_person(conn, person_id)`: recomputes everything, e.g. after a source priority changed.
- `refresh_type(conn, person_id, code)`: recomputes one type, after its own source order changed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from healthpod.insights import aggregate
from healthpod.insights.aggregate import DAY_MS, DAYS, NIGHTS, BucketRow
from healthpod.insights.measures import (
    ASLEEP_CODES,
    IN_BED_CODES,
    Measure,
    Method,
    stored_measures,
)
from healthpod.insights.sources import ranked_source_ids
from healthpod.insights.sweep import Columns
from healthpod.insights.timefmt import day_of
from healthpod.store import schema
from healthpod.store.engine import is_sqlite

logger = logging.getLogger(__name__)

MINUTES = 60_000.0
WINDOW_SAMPLES = 50_000  # about how many samples `refresh` computes days from at once


def compute_days(
    conn: Connection,
    person_id: int,
    measure: Measure,
    first_day: int,
    end_day: int,
    ranked: Sequence[int] | None = None,
    held: Columns | None = None,
) -> list[BucketRow]:
    """Daily rows of one type for local days [first_day, end_day), straight from the samples
    (or from `held`, every sample of a quantity type, where given)."""
    if ranked is None:
        ranked = ranked_source_ids(conn, person_id, measure.code)
    args = (conn, person_id, measure.type_id, first_day, end_day)
    match measure.method:
        case Method.DESCRIBE:
            return aggregate.discrete(*args, DAYS, held=held)
        case Method.SUM:
            return aggregate.swept(*args, DAYS, ranked, held=held)
        case Method.DURATION:
            rows = aggregate.swept(
                *args,
                DAYS,
                ranked,
                table=measure.table,
                value_codes=measure.value_codes,
                duration=True,
            )
            return [_in_minutes(r) for r in rows]
        case Method.SLEEP:
            return _sleep_days(conn, person_id, measure, first_day, end_day, ranked)


def _in_minutes(row: BucketRow) -> BucketRow:
    by_source = {k: v / MINUTES for k, v in (row.by_source or {}).items()}
    total = None if row.total is None else row.total / MINUTES
    return BucketRow(
        row.bucket,
        row.offset_min,
        row.count,
        total,
        None,
        None,
        row.first_ms,
        row.last_ms,
        row.first_offset_min,
        by_source,
    )


def _sleep_days(
    conn: Connection,
    person_id: int,
    measure: Measure,
    first_day: int,
    end_day: int,
    ranked: Sequence[int],
) -> list[BucketRow]:
    """Minutes asleep per night (18:00-18:00, on the wake-up day); in bed where no stages."""
    args = (conn, person_id, measure.type_id, first_day, end_day, NIGHTS, ranked)
    asleep = {
        r.bucket: r
        for r in aggregate.swept(
            *args, table=measure.table, value_codes=ASLEEP_CODES, duration=True
        )
    }
    in_bed = aggregate.swept(*args, table=measure.table, value_codes=IN_BED_CODES, duration=True)
    nights = dict(asleep)
    for row in in_bed:
        if row.bucket not in nights or not nights[row.bucket].total:
            nights[row.bucket] = row
    return [_in_minutes(nights[b]) for b in sorted(nights)]


def _write_days(
    conn: Connection,
    person_id: int,
    measure: Measure,
    first_day: int,
    end_day: int,
    rows: Iterable[BucketRow],
) -> int:
    d = schema.daily_summaries
    conn.execute(
        delete(d).where(
            d.c.person_id == person_id,
            d.c.type_id == measure.type_id,
            d.c.day_on >= day_of(first_day),
            d.c.day_on < day_of(end_day),
        )
    )
    values = [
        (
            person_id,
            measure.type_id,
            day_of(r.bucket),
            r.count,
            r.total,
            r.low,
            r.high,
            r.first_ms,
            r.last_ms,
            r.first_offset_min,
            None if r.by_source is None else {str(k): v for k, v in r.by_source.items()},
        )
        for r in rows
    ]
    if not values:
        return 0
    if is_sqlite(conn.engine):
        # Straight to the driver: SQLAlchemy's per-row parameter processing cost more than
        # the insert. Stored as SQLAlchemy stores them: ISO dates and JSON text.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(
            _INSERT_DAYS,
            [
                (*v[:2], v[2].isoformat(), *v[3:10], None if v[10] is None else json.dumps(v[10]))
                for v in values
            ],
        )
        cursor.close()
    else:
        conn.execute(insert(d), [dict(zip(_DAY_COLUMNS, v, strict=True)) for v in values])
    return len(values)


_DAY_COLUMNS = tuple(c.name for c in schema.daily_summaries.columns)
_INSERT_DAYS = (
    f"INSERT INTO {schema.daily_summaries.name} ({', '.join(_DAY_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_DAY_COLUMNS))})"
)


def refresh(
    conn: Connection,
    person_id: int,
    ranges: Mapping[str, tuple[int, int]],
    held: Mapping[str, Columns] | None = None,
) -> None:
    """Recompute the daily rows of each type code for the UTC range (start_ms, end_ms) given.

    `held`: for some quantity types, every sample the store holds of them, to use instead of
    reading them back.
    """
    measures = stored_measures(conn)
    for code, (lo_ms, hi_ms) in ranges.items():
        measure = measures.get(code)
        if measure is None:
            continue
        ranked = ranked_source_ids(conn, person_id, code)
        # Local days reach up to 14 h either side of UTC; nights start 6 h early.
        first_day, end_day = (lo_ms - DAY_MS) // DAY_MS, hi_ms // DAY_MS + 2
        found = None if held is None else held.get(code)
        samples = (
            len(found)
            if found is not None
            else _sample_count(conn, person_id, measure, lo_ms, hi_ms)
        )
        for window, window_end in _windows(first_day, end_day, samples):
            rows = compute_days(conn, person_id, measure, window, window_end, ranked, found)
            _write_days(conn, person_id, measure, window, window_end, rows)


def _windows(first_day: int, end_day: int, samples: int) -> list[tuple[int, int]]:
    """The days [first_day, end_day) in windows of about WINDOW_SAMPLES samples each.

    The sweep's arrays grow with the samples it takes: years of a large type at once took
    more memory than all the rest of an import.
    """
    days = end_day - first_day
    step = days if samples <= WINDOW_SAMPLES else max(1, days * WINDOW_SAMPLES // samples)
    return [(day, min(day + step, end_day)) for day in range(first_day, end_day, step)]


def _sample_count(
    conn: Connection, person_id: int, measure: Measure, lo_ms: int, hi_ms: int
) -> int:
    t = schema.quantity_samples if measure.kind == "quantity" else schema.category_samples
    return int(
        conn.scalar(
            select(func.count()).where(
                t.c.person_id == person_id,
                t.c.type_id == measure.type_id,
                t.c.start_ms >= lo_ms - aggregate.LOOKBACK_MS,
                t.c.start_ms <= hi_ms,
            )
        )
        or 0
    )


def sample_ranges(
    conn: Connection,
    person_id: int,
    import_ids: Sequence[int] | None,
    codes: Collection[str] | None = None,
) -> dict[str, tuple[int, int]]:
    """{type code: (min start_ms, max end_ms)} of the person's samples, of some imports and
    type codes if given (codes narrow the scan to those types' part of the index)."""
    ranges: dict[str, tuple[int, int]] = {}
    st = schema.sample_types
    for t in (schema.quantity_samples, schema.category_samples):
        query = (
            select(st.c.code, func.min(t.c.start_ms), func.max(t.c.end_ms))
            .join(st, st.c.id == t.c.type_id)
            .where(t.c.person_id == person_id)
            .group_by(st.c.code)
        )
        if import_ids is not None:
            query = query.where(t.c.import_id.in_(import_ids))
        if codes is not None:
            query = query.where(st.c.code.in_(sorted(codes)))
        for code, lo, hi in conn.execute(query):
            ranges[str(code)] = (int(lo), int(hi))
    return ranges


def mark_summarized(conn: Connection, person_id: int, import_ids: Sequence[int]) -> None:
    si = schema.summarized_imports
    done = set(conn.scalars(select(si.c.import_id).where(si.c.import_id.in_(import_ids))))
    now = time.time_ns() // 1_000_000
    fresh = [
        {"import_id": i, "person_id": person_id, "summarized_ms": now}
        for i in import_ids
        if i not in done
    ]
    if fresh:
        conn.execute(insert(si), fresh)


def summarize_import(
    conn: Connection,
    person_id: int,
    import_id: int,
    ranges: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Bring the daily rows up to date with one import (call it inside the import transaction).

    `ranges` ({type_code: (min start_ms, max end_ms)} of the samples the import added) saves a
    scan of the samples; without it they are found through `import_id`.
    """
    started = time.perf_counter()
    if ranges is None:
        ranges = sample_ranges(conn, person_id, [import_id])
    refresh(conn, person_id, ranges)
    mark_summarized(conn, person_id, [import_id])
    logger.info(
        "daily summaries updated import_id=%s types=%d seconds=%.2f",
        import_id,
        len(ranges),
        time.perf_counter() - started,
    )


def catch_up(conn: Connection, person_id: int, *, yield_to_others: bool = True) -> None:
    """Summarize every import of the person that is not summarized yet.

    With `yield_to_others`, losing a race with another reader is not an error (this transaction
    reads on); `ensure_fresh` turns it off so that it can retry until the rows are there.
    """
    i, si = schema.imports, schema.summarized_imports
    pending = list(
        conn.scalars(
            select(i.c.id)
            .outerjoin(si, si.c.import_id == i.c.id)
            .where(and_(i.c.person_id == person_id, si.c.import_id.is_(None)))
        )
    )
    if not pending:
        return
    try:
        # A savepoint: if another reader is summarizing the same import right now, its rows win
        # and this transaction carries on reading instead of failing.
        with conn.begin_nested():
            refresh(conn, person_id, sample_ranges(conn, person_id, pending))
            mark_summarized(conn, person_id, pending)
    except (IntegrityError, OperationalError):
        if not yield_to_others:
            raise
        logger.info("daily summaries: another reader is catching up person_id=%s", person_id)


def refresh_person(conn: Connection, person_id: int) -> None:
    """Recompute every daily row of the person (after a source priority changed)."""
    d = schema.daily_summaries
    conn.execute(delete(d).where(d.c.person_id == person_id))
    refresh(conn, person_id, sample_ranges(conn, person_id, None))
    i = schema.imports
    mark_summarized(
        conn, person_id, list(conn.scalars(select(i.c.id).where(i.c.person_id == person_id)))
    )


def refresh_type(conn: Connection, person_id: int, type_code: str) -> None:
    """Recompute every daily row of one type (after the type's own source order changed)."""
    measures = stored_measures(conn)
    measure = measures.get(type_code)
    if measure is None:
        return
    d = schema.daily_summaries
    conn.execute(delete(d).where(d.c.person_id == person_id, d.c.type_id == measure.type_id))
    ranges = sample_ranges(conn, person_id, None)
    if type_code in ranges:
        refresh(conn, person_id, {type_code: ranges[type_code]})


def ensure_fresh(engine: Engine, person_id: int, *, attempts: int = 4) -> None:
    """Catch up in a transaction of its own, before a reader opens its transaction.

    Two readers may race to summarize the same import (two charts loading after an import):
    the loser's write conflicts (a unique key on PostgreSQL, a stale snapshot on SQLite), so it
    rolls back, waits a moment and finds nothing left to do.
    """
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                catch_up(conn, person_id, yield_to_others=False)
            return
        except (OperationalError, IntegrityError):
            if attempt == attempts - 1:
                raise
            logger.info("daily summaries: concurrent catch-up, retrying person_id=%s", person_id)
            time.sleep(0.1 * (attempt + 1))
