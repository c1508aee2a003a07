"""The daily summary table: one row per person, type and local day, kept up to date.

Daily, weekly and monthly statistics, baselines and findings read this table instead of the
samples, so five years of one type is ~1,800 rows however many samples lie behind them.

How it stays true:
- The importer brings the days it touched up to date inside its own transaction
  (`store.imports.summarizing`, with `refresh` and `mark_summarized`); `summarize_import` does the
  same for one import in one go.
- `catch_up(write)`: every reader calls this first; it summarizes any import that was not (an
  importer that did not call the hook, an older pod), so a stale row is never served. Edges
  (CLI, API) call `bring_up_to_date(data)` before opening their own transaction, so that
  racing readers never fail and SQLite readers never hold a snapshot older than it.
- `refresh_person(write)`: recomputes everything, e.g. after a source priority changed.
- `refresh_type(write, code)`: recomputes one type, after its own source order changed.

The rows are read and written through the person's door (`store.daily_summaries`); this
module decides what they hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence

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
from healthpod.store import daily_summaries, samples
from healthpod.store.daily_summaries import RACED
from healthpod.store.engine import Engine
from healthpod.store.person_data import PersonData, Reader, Writer, for_owner

logger = logging.getLogger(__name__)

MINUTES = 60_000.0
WINDOW_SAMPLES = 50_000  # about how many samples `refresh` computes days from at once


def compute_days(
    read: Reader,
    measure: Measure,
    first_day: int,
    end_day: int,
    ranked: Sequence[int] | None = None,
    held: Columns | None = None,
) -> list[BucketRow]:
    """Daily rows of one type for local days [first_day, end_day), straight from the samples
    (or from `held`, every sample of a quantity type, where given)."""
    if ranked is None:
        ranked = ranked_source_ids(read, measure.code)
    args = (read, measure.type_id, first_day, end_day)
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
            return _sleep_days(read, measure, first_day, end_day, ranked)


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
    read: Reader,
    measure: Measure,
    first_day: int,
    end_day: int,
    ranked: Sequence[int],
) -> list[BucketRow]:
    """Minutes asleep per night (18:00-18:00, on the wake-up day); in bed where no stages."""
    args = (read, measure.type_id, first_day, end_day, NIGHTS, ranked)
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
    write: Writer,
    measure: Measure,
    first_day: int,
    end_day: int,
    rows: Iterable[BucketRow],
) -> int:
    values = [
        (
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
    return daily_summaries.replace_days(
        write, measure.type_id, day_of(first_day), day_of(end_day), values
    )


def refresh_days(
    write: Writer,
    ranges: Mapping[str, tuple[int, int]],
    held: Mapping[str, Columns] | None = None,
) -> None:
    """Recompute the daily rows of each type code for the UTC range (start_ms, end_ms) given.

    `held`: for some quantity types, every sample the store holds of them, to use instead of
    reading them back.
    """
    measures = stored_measures(write)
    for code, (lo_ms, hi_ms) in ranges.items():
        measure = measures.get(code)
        if measure is None:
            continue
        ranked = ranked_source_ids(write, code)
        # Local days reach up to 14 h either side of UTC; nights start 6 h early.
        first_day, end_day = (lo_ms - DAY_MS) // DAY_MS, hi_ms // DAY_MS + 2
        found = None if held is None else held.get(code)
        count = (
            len(found)
            if found is not None
            else samples.count_starting(
                write, measure.type_id, measure.kind, lo_ms - aggregate.LOOKBACK_MS, hi_ms
            )
        )
        for window, window_end in _windows(first_day, end_day, count):
            rows = compute_days(write, measure, window, window_end, ranked, found)
            _write_days(write, measure, window, window_end, rows)


def _windows(first_day: int, end_day: int, samples: int) -> list[tuple[int, int]]:
    """The days [first_day, end_day) in windows of about WINDOW_SAMPLES samples each.

    The sweep's arrays grow with the samples it takes: years of a large type at once took
    more memory than all the rest of an import.
    """
    days = end_day - first_day
    step = days if samples <= WINDOW_SAMPLES else max(1, days * WINDOW_SAMPLES // samples)
    return [(day, min(day + step, end_day)) for day in range(first_day, end_day, step)]


def summarize_import(
    write: Writer,
    import_id: int,
    ranges: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Bring the daily rows up to date with one import (call it inside the import transaction).

    `ranges` ({type_code: (min start_ms, max end_ms)} of the samples the import added) saves a
    scan of the samples; without it they are found through `import_id`.
    """
    started = time.perf_counter()
    if ranges is None:
        ranges = samples.ranges(write, [import_id])
    refresh_days(write, ranges)
    daily_summaries.mark_summarized(write, [import_id])
    logger.info(
        "daily summaries updated import_id=%s types=%d seconds=%.2f",
        import_id,
        len(ranges),
        time.perf_counter() - started,
    )


def catch_up(write: Writer, *, yield_to_others: bool = True) -> None:
    """Summarize every import of the person that is not summarized yet (once per transaction
    of a writer that remembers, see `Reader.remembered`).

    With `yield_to_others`, losing a race with another reader is not an error (this transaction
    reads on); `ensure_fresh` turns it off so that it can retry until the rows are there.
    """
    write.remembered(
        ("summaries caught up", yield_to_others), lambda: _catch_up(write, yield_to_others)
    )


def _catch_up(write: Writer, yield_to_others: bool) -> None:
    pending = daily_summaries.pending_imports(write)
    if not pending:
        return
    try:
        # A savepoint: if another reader is summarizing the same import right now, its rows win
        # and this transaction carries on reading instead of failing.
        with write.savepoint():
            refresh_days(write, samples.ranges(write, pending))
            daily_summaries.mark_summarized(write, pending)
    except RACED:
        if not yield_to_others:
            raise
        logger.info("daily summaries: another reader is catching up person_id=%s", write.person_id)


def refresh_person(write: Writer) -> None:
    """Recompute every daily row of the person (after a source priority changed)."""
    daily_summaries.delete_rows(write)
    refresh_days(write, samples.ranges(write, None))
    daily_summaries.mark_summarized(write, daily_summaries.import_ids(write))


def refresh_type(write: Writer, type_code: str) -> None:
    """Recompute every daily row of one type (after the type's own source order changed)."""
    measures = stored_measures(write)
    measure = measures.get(type_code)
    if measure is None:
        return
    daily_summaries.delete_rows(write, measure.type_id)
    ranges = samples.ranges(write, None)
    if type_code in ranges:
        refresh_days(write, {type_code: ranges[type_code]})


def bring_up_to_date(data: PersonData, *, attempts: int = 4) -> None:
    """Catch up in a transaction of its own, before a reader opens its transaction.

    Two readers may race to summarize the same import (two charts loading after an import):
    the loser's write conflicts (a unique key on PostgreSQL, a stale snapshot on SQLite), so it
    rolls back, waits a moment and finds nothing left to do.
    """
    for attempt in range(attempts):
        try:
            with data.writer() as write:
                catch_up(write, yield_to_others=False)
            return
        except RACED:
            if attempt == attempts - 1:
                raise
            logger.info(
                "daily summaries: concurrent catch-up, retrying person_id=%s", data.person_id
            )
            time.sleep(0.1 * (attempt + 1))


def ensure_fresh(engine: Engine, person_id: int) -> None:
    """`bring_up_to_date` for the importer, once its transaction is committed."""
    bring_up_to_date(for_owner(engine, engine, person_id))
