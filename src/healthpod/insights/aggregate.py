"""Per-bucket aggregates of one type, computed in SQL straight from the samples.

Three shapes, all in one SQL statement each, on SQLite and PostgreSQL alike:

- **discrete** (heart rate, weight): count, sum, min, max per bucket of each sample's start.
- **cumulative** (steps, energy): the de-duplicated sum. Each sample is cut at the bucket edges of
  its own local time (its start offset), and its value is spread evenly over its duration. Within a
  bucket, a sweep over the start and end instants of all pieces finds, for every stretch of time,
  the highest-priority source that has a sample there; only that source's samples count for that
  stretch (as the Health app does). Samples of one source that overlap each other are all counted.
- **duration** (sleep, mindful minutes): as cumulative, but a stretch counts its length once when
  the winning source has any sample there, so the result is time covered, not a sum of values.

A bucket is a local day (optionally shifted, so a night runs 18:00-18:00 and belongs to the day
one wakes up) or a local hour; hours also carry the offset, so the autumn day's repeated hour is
two buckets. A zero-length sample of a cumulative type is treated as lasting one millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# Samples are found through the (person, type, start) index; a sample that started up to this long
# before the range can still reach into it. Longer samples are cut at the range start.
LOOKBACK_MS = 2 * DAY_MS
# Local offsets run from -12:00 to +14:00; pad UTC ranges so a local bucket is never cut short.
OFFSET_PAD_MS = 15 * HOUR_MS
# A float literal: `1.0` would be NUMERIC on PostgreSQL, which is much slower to sum.
FLOAT_ONE = "CAST(1 AS DOUBLE PRECISION)"
FLOAT_ZERO = "CAST(0 AS DOUBLE PRECISION)"


@dataclass(frozen=True, slots=True)
class Frame:
    """How instants map to buckets: width, shift (18:00-nights), and whether offsets split them."""

    width_ms: int
    shift_ms: int = 0
    split_by_offset: bool = False


DAYS = Frame(DAY_MS)
NIGHTS = Frame(DAY_MS, shift_ms=6 * HOUR_MS)  # 18:00 local is the start of the next "day"
HOURS = Frame(HOUR_MS, split_by_offset=True)


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One bucket of one type: `bucket` is the local bucket number (epoch days or hours)."""

    bucket: int
    offset_min: int  # the offset of the bucket (hours) or 0 (days)
    count: int
    total: float | None
    low: float | None
    high: float | None
    first_ms: int | None
    last_ms: int | None
    first_offset_min: int | None
    by_source: dict[int, float] | None = None  # cumulative/duration: what each source gave


def _range_params(
    person_id: int, type_id: int, first_bucket: int, end_bucket: int, frame: Frame
) -> dict[str, Any]:
    lo = first_bucket * frame.width_ms - frame.shift_ms - OFFSET_PAD_MS
    hi = end_bucket * frame.width_ms - frame.shift_ms + OFFSET_PAD_MS
    return {
        "person_id": person_id,
        "type_id": type_id,
        "lo_ms": lo,
        "scan_lo_ms": lo - LOOKBACK_MS,
        "hi_ms": hi,
        "b_lo": first_bucket,
        "b_hi": end_bucket,
        "w": frame.width_ms,
        "shift": frame.shift_ms,
    }


def discrete(
    conn: Connection, person_id: int, type_id: int, first_bucket: int, end_bucket: int, frame: Frame
) -> list[BucketRow]:
    """Count, sum, min, max per bucket of the samples starting in [first_bucket, end_bucket)."""
    off = "start_offset_min" if frame.split_by_offset else "0"
    sql = f"""
        WITH s AS (
            SELECT (start_ms + start_offset_min * 60000 + :shift) / :w AS b,
                   {off} AS bo, start_ms, start_offset_min, value, source_id
            FROM quantity_samples
            WHERE person_id = :person_id AND type_id = :type_id
              AND start_ms >= :lo_ms AND start_ms < :hi_ms
        )
        SELECT b, bo, source_id, COUNT(*), SUM(value), MIN(value), MAX(value), MIN(start_ms),
               MAX(start_ms), MIN(start_offset_min)
        FROM s WHERE b >= :b_lo AND b < :b_hi
        GROUP BY b, bo, source_id ORDER BY b, bo
    """  # noqa: S608 - only our own column names are formatted in
    params = _range_params(person_id, type_id, first_bucket, end_bucket, frame)
    rows: list[BucketRow] = []
    for b, bo, source_id, n, tot, lo, hi, first, last, off0 in conn.execute(text(sql), params):
        row = BucketRow(int(b), int(bo), int(n), tot, lo, hi, first, last, off0, {source_id: tot})
        if rows and (rows[-1].bucket, rows[-1].offset_min) == (row.bucket, row.offset_min):
            row = _merged(rows.pop(), row)
        rows.append(row)
    return rows


def _merged(a: BucketRow, b: BucketRow) -> BucketRow:
    """Two sources' rows of one bucket as one."""
    first_offset = (
        a.first_offset_min if (a.first_ms or 0) <= (b.first_ms or 0) else b.first_offset_min
    )
    return BucketRow(
        a.bucket,
        a.offset_min,
        a.count + b.count,
        (a.total or 0.0) + (b.total or 0.0),
        min(a.low, b.low) if a.low is not None and b.low is not None else a.low,
        max(a.high, b.high) if a.high is not None and b.high is not None else a.high,
        min(a.first_ms or 0, b.first_ms or 0),
        max(a.last_ms or 0, b.last_ms or 0),
        first_offset,
        {**(a.by_source or {}), **(b.by_source or {})},
    )


def swept(
    conn: Connection,
    person_id: int,
    type_id: int,
    first_bucket: int,
    end_bucket: int,
    frame: Frame,
    ranked_sources: Sequence[int],
    *,
    table: str = "quantity_samples",
    value_codes: Sequence[str] | None = None,
    duration: bool = False,
) -> list[BucketRow]:
    """De-duplicated sum (or covered duration, in ms) per bucket; sources ranked best first.

    `ranked_sources` must list every source that has samples of this type in the range, best
    first; samples of other sources are ignored.
    """
    if not ranked_sources:
        return []
    params = _range_params(person_id, type_id, first_bucket, end_bucket, frame)
    ranks = " ".join(f"WHEN {int(sid)} THEN {i}" for i, sid in enumerate(ranked_sources))
    rate = FLOAT_ONE if duration else "value / (s1 - s0)"
    value_filter = ""
    if value_codes is not None:
        names = [f"vc{i}" for i in range(len(value_codes))]
        params.update(zip(names, value_codes, strict=True))
        value_filter = f"AND value_code IN ({', '.join(':' + n for n in names)})"
    off = "off_min" if frame.split_by_offset else "0"
    k = range(len(ranked_sources))
    pivot = ",\n".join(
        f"SUM(CASE WHEN rk = {i} THEN dc ELSE 0 END) AS dc{i}, "
        f"SUM(CASE WHEN rk = {i} THEN dr ELSE {FLOAT_ZERO} END) AS dr{i}"
        for i in k
    )
    running = ",\n".join(f"SUM(dc{i}) OVER w AS c{i}, SUM(dr{i}) OVER w AS r{i}" for i in k)
    winner = " ".join(f"WHEN c{i} > 0 THEN {i}" for i in k)
    winner_rate = " ".join(f"WHEN c{i} > 0 THEN r{i}" for i in k)
    sql = f"""
        WITH RECURSIVE s AS (
            SELECT start_ms AS s0,
                   CASE WHEN end_ms > start_ms THEN end_ms ELSE start_ms + 1 END AS s1,
                   start_offset_min AS off_min,
                   start_offset_min * 60000 + :shift AS off,
                   {FLOAT_ZERO if duration else "value"} AS value,
                   CASE source_id {ranks} END AS rk
            FROM {table}
            WHERE person_id = :person_id AND type_id = :type_id
              AND start_ms >= :scan_lo_ms AND start_ms < :hi_ms AND end_ms >= :lo_ms
              {value_filter}
        ),
        r AS (
            SELECT s0, s1, off_min, off, rk, {rate} AS rate,
                   (s0 + off) / :w AS b0, (s1 - 1 + off) / :w AS b1
            FROM s WHERE rk IS NOT NULL
        ),
        pieces AS (
            SELECT b0 AS b, {off} AS bo, rk, rate, s0 AS p0,
                   CASE WHEN b1 = b0 THEN s1 ELSE (b0 + 1) * :w - off END AS p1,
                   1 AS first_piece, s0, s1, off, b1, off_min
            FROM r
            UNION ALL
            SELECT b + 1, bo, rk, rate, p1,
                   CASE WHEN b + 1 = b1 THEN s1 ELSE (b + 2) * :w - off END,
                   0, s0, s1, off, b1, off_min
            FROM pieces WHERE b < b1
        ),
        kept AS (
            SELECT b, bo, rk, rate, p0, p1, first_piece, off_min FROM pieces
            WHERE b >= :b_lo AND b < :b_hi
        ),
        ev AS (
            SELECT b, bo, p0 AS t, rk, 1 AS dc, rate AS dr FROM kept
            UNION ALL
            SELECT b, bo, p1 AS t, rk, -1 AS dc, -rate AS dr FROM kept
        ),
        g AS (
            SELECT b, bo, t, {pivot} FROM ev GROUP BY b, bo, t
        ),
        run AS (
            SELECT b, bo, t, LEAD(t) OVER w AS t_next, {running}
            FROM g
            WINDOW w AS (PARTITION BY b, bo ORDER BY t ROWS UNBOUNDED PRECEDING)
        ),
        seg AS (
            SELECT b, bo, t_next - t AS len, CASE {winner} END AS win,
                   CASE {winner_rate} END AS rate
            FROM run WHERE t_next IS NOT NULL
        )
        SELECT 0 AS kind, b, bo, win, SUM(len * rate), NULL, NULL, NULL
        FROM seg WHERE win IS NOT NULL GROUP BY b, bo, win
        UNION ALL
        SELECT 1, b, bo, NULL, SUM(first_piece), MIN(p0), MAX(p1), MIN(off_min)
        FROM kept GROUP BY b, bo
        UNION ALL
        SELECT 2, b, bo, rk, 0, NULL, NULL, NULL FROM kept GROUP BY b, bo, rk
    """  # noqa: S608 - only our own column names and integers are formatted in
    totals: dict[tuple[int, int], dict[int, float]] = {}
    counts: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    for kind, b, bo, win, amount, first, last, off0 in conn.execute(text(sql), params):
        key = (int(b), int(bo))
        if kind == 0:
            totals.setdefault(key, {})[ranked_sources[int(win)]] = float(amount)
        elif kind == 2:  # present that bucket, even if it won no stretch of it
            totals.setdefault(key, {}).setdefault(ranked_sources[int(win)], 0.0)
        else:
            counts[key] = (int(amount), int(first), int(last), int(off0))
    rows = []
    for key in sorted(counts):
        n, first, last, off0 = counts[key]
        by_source = totals.get(key, {})
        rows.append(
            BucketRow(
                key[0], key[1], n, sum(by_source.values()), None, None, first, last, off0, by_source
            )
        )
    return rows


def spans(
    conn: Connection,
    person_id: int,
    type_id: int,
    from_ms: int,
    to_ms: int,
    ranked_sources: Sequence[int],
    *,
    table: str = "quantity_samples",
    value_codes: Sequence[str] | None = None,
    duration: bool = False,
) -> list[tuple[int, int, int, float]]:
    """Which source won which stretch of [from_ms, to_ms): (start_ms, end_ms, source_id, amount).

    Adjacent stretches won by the same source are merged. For explaining one day, not for years.
    """
    if not ranked_sources:
        return []
    frame = Frame(width_ms=max(to_ms - from_ms, 1))
    params = _range_params(person_id, type_id, 0, 1, frame)
    params.update(lo_ms=from_ms, scan_lo_ms=from_ms - LOOKBACK_MS, hi_ms=to_ms)
    ranks = " ".join(f"WHEN {int(sid)} THEN {i}" for i, sid in enumerate(ranked_sources))
    rate = FLOAT_ONE if duration else "value / (s1 - s0)"
    value_filter = ""
    if value_codes is not None:
        names = [f"vc{i}" for i in range(len(value_codes))]
        params.update(zip(names, value_codes, strict=True))
        value_filter = f"AND value_code IN ({', '.join(':' + n for n in names)})"
    k = range(len(ranked_sources))
    pivot = ", ".join(
        f"SUM(CASE WHEN rk = {i} THEN dc ELSE 0 END) AS dc{i}, "
        f"SUM(CASE WHEN rk = {i} THEN dr ELSE {FLOAT_ZERO} END) AS dr{i}"
        for i in k
    )
    running = ", ".join(f"SUM(dc{i}) OVER w AS c{i}, SUM(dr{i}) OVER w AS r{i}" for i in k)
    winner = " ".join(f"WHEN c{i} > 0 THEN {i}" for i in k)
    winner_rate = " ".join(f"WHEN c{i} > 0 THEN r{i}" for i in k)
    sql = f"""
        WITH s AS (
            SELECT CASE WHEN start_ms > :lo_ms THEN start_ms ELSE :lo_ms END AS p0,
                   CASE WHEN end_ms <= start_ms THEN start_ms + 1
                        WHEN end_ms < :hi_ms THEN end_ms ELSE :hi_ms END AS p1,
                   {rate.replace("s1 - s0", "CASE WHEN end_ms > start_ms THEN end_ms - start_ms ELSE 1 END")} AS rate,
                   CASE source_id {ranks} END AS rk
            FROM {table}
            WHERE person_id = :person_id AND type_id = :type_id
              AND start_ms >= :scan_lo_ms AND start_ms < :hi_ms AND end_ms >= :lo_ms
              {value_filter}
        ),
        kept AS (SELECT * FROM s WHERE rk IS NOT NULL AND p1 > p0),
        ev AS (
            SELECT p0 AS t, rk, 1 AS dc, rate AS dr FROM kept
            UNION ALL
            SELECT p1 AS t, rk, -1 AS dc, -rate AS dr FROM kept
        ),
        g AS (SELECT t, {pivot} FROM ev GROUP BY t),
        run AS (
            SELECT t, LEAD(t) OVER w AS t_next, {running}
            FROM g WINDOW w AS (ORDER BY t ROWS UNBOUNDED PRECEDING)
        )
        SELECT t, t_next, CASE {winner} END AS win, (t_next - t) * CASE {winner_rate} END
        FROM run WHERE t_next IS NOT NULL ORDER BY t
    """  # noqa: S608, E501 - only our own column names and integers are formatted in
    merged: list[tuple[int, int, int, float]] = []
    for t, t_next, win, amount in conn.execute(text(sql), params):
        if win is None:
            continue
        source_id = ranked_sources[int(win)]
        if merged and merged[-1][1] == t and merged[-1][2] == source_id:
            start, _, _, before = merged[-1]
            merged[-1] = (start, int(t_next), source_id, before + float(amount))
        else:
            merged.append((int(t), int(t_next), source_id, float(amount)))
    return merged
