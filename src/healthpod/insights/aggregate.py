"""Per-bucket aggregates of one type, straight from the samples.

Three shapes:

- **discrete** (heart rate, weight): count, sum, min, max per bucket of each sample's start,
  one GROUP BY in SQL on either engine.
- **cumulative** (steps, energy): the sum de-duplicated across sources by priority; the store
  finds the samples (`store.statistics`) and `sweep` cuts them at bucket edges and sweeps them
  (see there for the rule).
- **duration** (sleep, mindful minutes): as cumulative, but a stretch counts its length once when
  the winning source has any sample there, so the result is time covered, not a sum of values.

A bucket is a local day (optionally shifted, so a night runs 18:00-18:00 and belongs to the day
one wakes up) or a local hour; hours also carry the offset, so the autumn day's repeated hour is
two buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthpod.insights import sweep
from healthpod.store import statistics
from healthpod.store.person_data import Reader

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# Samples are found through the (person, type, start) index; a sample that started up to this long
# before the range can still reach into it. Longer samples are cut at the range start.
LOOKBACK_MS = 2 * DAY_MS
# Local offsets run from -12:00 to +14:00; pad UTC ranges so a local bucket is never cut short.
OFFSET_PAD_MS = 15 * HOUR_MS


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


def _range_params(first_bucket: int, end_bucket: int, frame: Frame) -> dict[str, Any]:
    lo = first_bucket * frame.width_ms - frame.shift_ms - OFFSET_PAD_MS
    hi = end_bucket * frame.width_ms - frame.shift_ms + OFFSET_PAD_MS
    return {
        "lo_ms": lo,
        "scan_lo_ms": lo - LOOKBACK_MS,
        "hi_ms": hi,
        "b_lo": first_bucket,
        "b_hi": end_bucket,
        "w": frame.width_ms,
        "shift": frame.shift_ms,
    }


def discrete(
    read: Reader,
    type_id: int,
    first_bucket: int,
    end_bucket: int,
    frame: Frame,
    *,
    held: sweep.Columns | None = None,
) -> list[BucketRow]:
    """Count, sum, min, max per bucket of the samples starting in [first_bucket, end_bucket).

    From `held` where given (every sample of the type), in numpy instead of SQL.
    """
    if held is not None:
        return _bucket_rows(_discrete_groups(held, first_bucket, end_bucket, frame))
    params = _range_params(first_bucket, end_bucket, frame)
    return _bucket_rows(
        statistics.discrete_groups(read, type_id, params, split_by_offset=frame.split_by_offset)
    )


def _discrete_groups(
    held: sweep.Columns, first_bucket: int, end_bucket: int, frame: Frame
) -> Iterable[Sequence[Any]]:
    """The rows of `discrete`'s GROUP BY, from samples in memory."""
    params = _range_params(first_bucket, end_bucket, frame)
    found = held.starting(params["lo_ms"], params["hi_ms"])
    local = found.start + found.offset_min * MINUTE_MS + frame.shift_ms
    # As SQL's integer division: towards zero.
    bucket = np.where(local < 0, -(-local // frame.width_ms), local // frame.width_ms)
    offset = found.offset_min if frame.split_by_offset else np.zeros_like(bucket)
    keep = (bucket >= first_bucket) & (bucket < end_bucket)
    if not keep.any():
        return []
    order = np.flatnonzero(keep)
    order = order[np.lexsort((found.source[order], offset[order], bucket[order]))]
    bucket, offset, source = bucket[order], offset[order], found.source[order]
    start, value, offset_min = found.start[order], found.value[order], found.offset_min[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (
        (bucket[1:] != bucket[:-1]) | (offset[1:] != offset[:-1]) | (source[1:] != source[:-1])
    )
    heads = np.flatnonzero(new)
    return zip(
        bucket[heads].tolist(),
        offset[heads].tolist(),
        source[heads].tolist(),
        np.diff(np.append(heads, len(order))).tolist(),
        np.add.reduceat(value, heads).tolist(),
        np.minimum.reduceat(value, heads).tolist(),
        np.maximum.reduceat(value, heads).tolist(),
        np.minimum.reduceat(start, heads).tolist(),
        np.maximum.reduceat(start, heads).tolist(),
        np.minimum.reduceat(offset_min, heads).tolist(),
        strict=True,
    )


def _bucket_rows(groups: Iterable[Sequence[Any]]) -> list[BucketRow]:
    """`discrete`'s rows from its groups of (bucket, offset, source), in bucket order."""
    rows: list[BucketRow] = []
    for b, bo, source_id, n, tot, lo, hi, first, last, off0 in groups:
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
    read: Reader,
    type_id: int,
    first_bucket: int,
    end_bucket: int,
    frame: Frame,
    ranked_sources: Sequence[int],
    *,
    table: str = "quantity_samples",
    value_codes: Sequence[str] | None = None,
    duration: bool = False,
    held: sweep.Columns | None = None,
) -> list[BucketRow]:
    """De-duplicated sum (or covered duration, in ms) per bucket; sources ranked best first.

    Samples of sources not in `ranked_sources` are ignored. From `held` where given.
    """
    params = _range_params(first_bucket, end_bucket, frame)
    samples = sweep.fetch(
        read,
        table=table,
        type_id=type_id,
        scan_from_ms=params["scan_lo_ms"],
        from_ms=params["lo_ms"],
        to_ms=params["hi_ms"],
        ranked_sources=ranked_sources,
        value_codes=value_codes,
        duration=duration,
        held=held,
    )
    if not len(samples):
        return []
    pieces = sweep.cut(samples, frame.width_ms, frame.shift_ms, frame.split_by_offset)
    found = sweep.totals(pieces, len(ranked_sources), duration=duration)
    rows = []
    for i, (bucket, offset) in enumerate(found.keys.tolist()):
        if not first_bucket <= bucket < end_bucket:
            continue
        by_source = {
            int(ranked_sources[r]): float(found.by_rank[i, r])
            for r in range(len(ranked_sources))
            if found.present[i, r] or found.by_rank[i, r]
        }
        rows.append(
            BucketRow(
                int(bucket),
                int(offset),
                int(found.count[i]),
                sum(by_source.values()),
                None,
                None,
                int(found.first[i]),
                int(found.last[i]),
                int(found.first_offset_min[i]),
                by_source,
            )
        )
    return rows


def spans(
    read: Reader,
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

    Adjacent stretches won by the same source are merged.
    """
    samples = sweep.fetch(
        read,
        table=table,
        type_id=type_id,
        scan_from_ms=from_ms - LOOKBACK_MS,
        from_ms=from_ms,
        to_ms=to_ms,
        ranked_sources=ranked_sources,
        value_codes=value_codes,
        duration=duration,
    )
    start = np.maximum(samples.start, from_ms)
    end = np.minimum(samples.end, to_ms)
    inside = end > start
    zeros = np.zeros(int(inside.sum()), dtype=np.int64)
    pieces = sweep.Pieces(
        zeros,
        zeros,
        start[inside],
        end[inside],
        samples.rank[inside],
        samples.value[inside],
        np.ones(len(zeros), dtype=bool),
        samples.offset_min[inside],
    )
    if not len(zeros):
        return []
    seg = sweep.sweep(pieces, len(ranked_sources), duration=duration)
    won = seg.winner >= 0
    starts, ends, winners, amounts = seg.start[won], seg.end[won], seg.winner[won], seg.amount[won]
    if not len(starts):
        return []
    # a new span begins where the winner changes or time jumps
    new = np.ones(len(starts), dtype=bool)
    new[1:] = (winners[1:] != winners[:-1]) | (starts[1:] != ends[:-1])
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:], len(starts)) - 1
    sums = np.add.reduceat(amounts, heads)
    return [
        (int(starts[h]), int(ends[t]), int(ranked_sources[int(winners[h])]), float(a))
        for h, t, a in zip(heads.tolist(), tails.tolist(), sums.tolist(), strict=True)
    ]
