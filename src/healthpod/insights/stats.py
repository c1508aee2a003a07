"""Statistics of one type per hour, day, week or month of the person's local time.

The one engine behind `healthpod stats`, the JSON API, the web charts, the insights and the FHIR
API's daily summaries. Days, weeks and months are read from the daily summary table (weeks and
months are sums of whole days, so they always add up); hours are computed from the samples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from healthpod.errors import InvalidRequest, NotFound
from healthpod.insights import aggregate, summaries
from healthpod.insights.aggregate import HOURS, BucketRow
from healthpod.insights.measures import Measure, Method, find_measure, stored_measures
from healthpod.insights.sources import ranked_source_ids, source_names
from healthpod.insights.timefmt import (
    day_number,
    iso_instant,
    local_hour,
    parse_day,
)
from healthpod.store import daily_summaries as daily_rows
from healthpod.store import samples
from healthpod.store.person_data import Reader, Writer
from healthpod.vocabulary import sample_type

MAX_HOURLY_DAYS = 92


class By(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class BucketStat:
    """One bucket. `start` is a local date (day/week/month) or local ISO datetime (hour)."""

    start: str
    end: str
    count: int
    total: float | None = None
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    by_source: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stats:
    type_code: str
    display: str
    unit: str
    method: Method
    by: By
    from_on: date
    to_on: date
    buckets: tuple[BucketStat, ...]

    def to_json(self) -> dict[str, Any]:
        def number(value: float | None) -> dict[str, Any] | None:
            return None if value is None else {"value": round(value, 6), "unit": self.unit}

        buckets = []
        for b in self.buckets:
            item: dict[str, Any] = {"start": b.start, "end": b.end, "count": b.count}
            if self.method is Method.DESCRIBE:
                item |= {"min": number(b.low), "max": number(b.high), "mean": number(b.mean)}
            else:
                item["sum"] = number(b.total)
                if self.method is Method.SLEEP:
                    item["mean_per_night"] = number(b.mean)
                item["by_source"] = {k: number(v) for k, v in b.by_source.items()}
            buckets.append(item)
        return {
            "type": self.type_code,
            "display": self.display,
            "unit": self.unit,
            "statistic": self.method.value,
            "by": self.by.value,
            "from": self.from_on.isoformat(),
            "to": self.to_on.isoformat(),
            "buckets": buckets,
        }


def parse_by(value: str, measure: Measure) -> By:
    """The bucket size, checked against what the type supports.

    Raises:
        InvalidRequest: an unknown bucket, or hours for sleep.
    """
    try:
        by = By(value.strip().lower())
    except ValueError:
        raise InvalidRequest(
            f"{value!r} is not a bucket size.", hint="Use hour, day, week or month."
        ) from None
    if by is By.HOUR and measure.method is Method.SLEEP:
        raise InvalidRequest(
            "Sleep is counted per night, so it has no hourly statistics.",
            hint="Use --by day, week or month.",
        )
    return by


def _find(read: Reader, code: str) -> Measure:
    known = sample_type(code.strip())
    try:
        return find_measure(read, code)
    except NotFound:
        if known is None:
            raise
        raise NotFound(
            f"There is no {known.display.lower()} data ({known.code}) in this pod yet.",
            hint="Import a file that has it, or see `healthpod stats` for the types you have.",
        ) from None


def bucket_stats(
    write: Writer,
    type_code: str,
    by: str = "day",
    from_on: str | date | None = None,
    to_on: str | date | None = None,
) -> Stats:
    """Statistics of one type per bucket for local days from_on..to_on (both included).

    Without dates, the range is the days that have data (for hours: the last of them).

    Raises:
        NotFound: unknown type, or no data in the range.
        InvalidRequest: a bad date, an empty range, or a bucket the type does not support.
    """
    measure = _find(write, type_code)
    bucket = parse_by(by, measure)
    start, end = parse_day(from_on, "The start date"), parse_day(to_on, "The end date")
    if start and end and start > end:
        raise InvalidRequest(
            f"The range {start} to {end} is empty: it ends before it starts.",
            hint="Give the earlier date as --from and the later one as --to.",
        )
    summaries.catch_up(write)
    span = daily_rows.day_span(write, measure.type_id)
    if span is None:
        raise NotFound(f"There is no {measure.code} data for this person.")
    if bucket is By.HOUR and start is None and end is None:
        start = end = span[1]  # hours of the last day with data, not of years
    start, end = start or span[0], end or span[1]
    _check_overlap(measure, span, start, end)
    if bucket is By.HOUR:
        if (end - start).days >= MAX_HOURLY_DAYS:
            raise InvalidRequest(
                f"Hourly statistics cover at most {MAX_HOURLY_DAYS} days at a time.",
                hint="Narrow --from/--to, or use --by day.",
            )
        rows = _hourly(write, measure, start, end)
    else:
        wants_sources = measure.method is not Method.DESCRIBE
        found = daily_rows.days(write, measure.type_id, start, end, with_sources=wants_sources)
        rows = _from_days(measure, found, bucket)
    names = {str(k): v for k, v in source_names(write).items()}
    stats = tuple(_named(r, names) for r in rows)
    return Stats(
        measure.code, measure.display, measure.unit, measure.method, bucket, start, end, stats
    )


def _check_overlap(measure: Measure, span: tuple[date, date], start: date, end: date) -> None:
    """Raises NotFound when start..end lies outside the type's days with data."""
    if start > span[1] or end < span[0]:
        raise NotFound(
            f"There is no {measure.code} data from {start} to {end}.",
            hint=f"The {measure.code} data runs from {span[0]} to {span[1]}.",
        )


@dataclass(frozen=True, slots=True)
class TypeDays:
    """One type's daily rows of a period, read together with other types' (`days_of_types`)."""

    measure: Measure
    span: tuple[date, date] | None  # the first and last day with data, of all time
    first: date  # the period read
    last: date
    rows: list[tuple[Any, ...]]  # (day, samples, total, low, high, None), by day

    def stats(self, by: str, start: date, end: date) -> Stats:
        """What `bucket_stats(write, code, by, start, end)` gives for days, weeks or months
        within the period read, without the per-source amounts (`by_source` is empty).

        Raises:
            NotFound: no data of the type, or none from start to end.
            InvalidRequest: a bucket other than day, week or month.
            ValueError: start..end is not within the period read.
        """
        bucket = parse_by(by, self.measure)
        if bucket is By.HOUR:
            raise InvalidRequest("Hours are not read from daily rows.", hint="Use day or week.")
        if start < self.first or end > self.last:
            raise ValueError(f"{start}..{end} is not within {self.first}..{self.last}")
        m = self.measure
        if self.span is None:
            raise NotFound(f"There is no {m.code} data for this person.")
        _check_overlap(m, self.span, start, end)
        rows = [r for r in self.rows if start <= r[0] <= end]
        buckets = tuple(_from_days(m, rows, bucket))
        return Stats(m.code, m.display, m.unit, m.method, bucket, start, end, buckets)


def days_of_types(
    write: Writer, type_codes: Sequence[str], start: date, end: date
) -> dict[str, TypeDays]:
    """The daily rows of several types from start to end (both included), by code, in three
    statements however many types (their measures, their spans, their rows); types the store
    does not know are left out. For a page that shows many types (the overview)."""
    summaries.catch_up(write)
    measures = stored_measures(write)
    wanted = {measures[c].type_id: measures[c] for c in type_codes if c in measures}
    spans = daily_rows.day_spans(write, list(wanted))
    rows = daily_rows.days_of_types(write, list(wanted), start, end)
    return {
        m.code: TypeDays(m, spans[type_id], start, end, rows[type_id])
        for type_id, m in wanted.items()
    }


def _named(row: BucketStat, names: dict[str, str]) -> BucketStat:
    if not row.by_source:
        return row
    by_source = {names.get(str(k), str(k)): v for k, v in row.by_source.items()}
    return BucketStat(
        row.start, row.end, row.count, row.total, row.low, row.high, row.mean, by_source
    )


def _period_start(day: date, by: By) -> date:
    if by is By.WEEK:
        return day - timedelta(days=day.weekday())
    if by is By.MONTH:
        return day.replace(day=1)
    return day


def _period_end(start: date, by: By) -> date:
    if by is By.WEEK:
        return start + timedelta(days=7)
    if by is By.MONTH:
        return (start + timedelta(days=32)).replace(day=1)
    return start + timedelta(days=1)


def _from_days(measure: Measure, found: Sequence[tuple[Any, ...]], by: By) -> list[BucketStat]:
    """Day, week or month buckets from daily rows (`daily_summaries.days`; weeks start on
    Monday).

    One pass over at most a few thousand rows; `by_source` is read as text and parsed only for
    summed types (the JSON type's per-row processing costs more than the rest together).
    """
    result: list[BucketStat] = []
    current: date | None = None
    days = count = 0
    total = 0.0
    low: float | None = None
    high: float | None = None
    by_source: dict[str, float] = {}

    def flush() -> None:
        if current is None:
            return
        span = (current.isoformat(), _period_end(current, by).isoformat())
        if measure.method is Method.DESCRIBE:
            result.append(
                BucketStat(*span, count, total, low, high, total / count if count else None)
            )
        elif measure.method is Method.SLEEP:
            result.append(BucketStat(*span, days, total, None, None, total / days, by_source))
        else:
            result.append(BucketStat(*span, count, total, None, None, None, by_source))

    for day, n, day_total, day_low, day_high, sources in found:
        period = _period_start(day, by)
        if period != current:
            flush()
            current, days, count, total, low, high, by_source = period, 0, 0, 0.0, None, None, {}
        days += 1
        count += n
        total += day_total or 0.0
        if day_low is not None:
            low = day_low if low is None else min(low, day_low)
        if day_high is not None:
            high = day_high if high is None else max(high, day_high)
        if sources:  # text on SQLite; PostgreSQL's driver already gives a dict
            parsed = json.loads(sources) if isinstance(sources, str) else sources
            for k, v in parsed.items():
                by_source[k] = by_source.get(k, 0.0) + v
    flush()
    return result


def _combine(start: str, end: str, rows: Sequence[BucketRow], measure: Measure) -> BucketStat:
    count = sum(r.count for r in rows)
    if measure.method is Method.DESCRIBE:
        total = sum(r.total or 0.0 for r in rows)
        lows = [r.low for r in rows if r.low is not None]
        highs = [r.high for r in rows if r.high is not None]
        return BucketStat(
            start,
            end,
            count,
            total,
            min(lows) if lows else None,
            max(highs) if highs else None,
            total / count if count else None,
        )
    by_source: dict[str, float] = {}
    for r in rows:
        for k, v in (r.by_source or {}).items():
            by_source[str(k)] = by_source.get(str(k), 0.0) + v
    total = sum(r.total or 0.0 for r in rows)
    mean = total / len(rows) if measure.method is Method.SLEEP and rows else None
    if measure.method is Method.SLEEP:
        count = len(rows)  # nights
    return BucketStat(start, end, count, total, None, None, mean, by_source)


def _hourly(read: Reader, measure: Measure, start: date, end: date) -> list[BucketStat]:
    first, last = day_number(start) * 24, (day_number(end) + 1) * 24
    ranked = ranked_source_ids(read, measure.code)
    args = (read, measure.type_id, first, last, HOURS)
    if measure.method is Method.DESCRIBE:
        rows = aggregate.discrete(*args)
    else:
        rows = aggregate.swept(
            *args,
            ranked,
            table=measure.table,
            value_codes=measure.value_codes,
            duration=measure.method is Method.DURATION,
        )
        if measure.method is Method.DURATION:
            rows = [summaries._in_minutes(r) for r in rows]
    stats = []
    for r in rows:
        begin = local_hour(r.bucket, r.offset_min)
        stats.append(
            _combine(begin.isoformat(), (begin + timedelta(hours=1)).isoformat(), [r], measure)
        )
    return stats


@dataclass(frozen=True, slots=True)
class TypeSummary:
    code: str
    unit: str
    count: int
    first_ms: int
    last_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "unit": self.unit,
            "first": iso_instant(self.first_ms),
            "last": iso_instant(self.last_ms),
        }


def overview(read: Reader) -> list[TypeSummary]:
    """Per stored type: how many samples, the unit, the first and the last instant."""
    measures = {m.type_id: m for m in stored_measures(read).values()}
    result = []
    for type_id, n, first, last in samples.per_type(read):
        m = measures[type_id]
        unit = m.unit if m.kind == "quantity" else ""
        result.append(TypeSummary(m.code, unit, n, first, last))
    return sorted(result, key=lambda s: s.code)


@dataclass(frozen=True, slots=True)
class DailySummary:
    """One type on one local day: what the FHIR API renders for a daily-only consent."""

    type_code: str
    day_on: date
    unit: str
    statistic: str  # sum|describe|sleep|duration
    count: int
    total: float | None
    low: float | None
    high: float | None
    mean: float | None
    first_ms: int | None
    last_ms: int | None
    offset_min: int | None

    @property
    def value(self) -> float | None:
        """The day's one number: the sum (or minutes) for summed types, the mean otherwise."""
        return self.mean if self.statistic == Method.DESCRIBE.value else self.total


def daily_summaries(
    write: Writer,
    type_codes: Sequence[str] | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> list[DailySummary]:
    """Per type and local day, the day's statistics, for days whose samples lie in the window.

    A day is included only when all its samples lie in [from_ms, to_ms), so a consent's time
    window never lets a partial day through. Types without data are simply absent.
    """
    summaries.catch_up(write)
    measures = stored_measures(write)
    wanted = [measures[c] for c in (type_codes or sorted(measures)) if c in measures]
    if not wanted:
        return []
    by_id = {m.type_id: m for m in wanted}
    return _summaries(daily_rows.rows(write, list(by_id), from_ms, to_ms), by_id)


def daily_summaries_since(write: Writer, windows: dict[str, int]) -> list[DailySummary]:
    """`daily_summaries(write, [code], from_ms)` for each code and its own `from_ms`, in one
    query (by type and day, as `daily_summaries` orders them); unknown codes are absent."""
    summaries.catch_up(write)
    measures = stored_measures(write)
    by_id = {measures[c].type_id: measures[c] for c in windows if c in measures}
    since = {type_id: windows[m.code] for type_id, m in by_id.items()}
    return _summaries(daily_rows.rows_since(write, since), by_id)


def _summaries(rows: Sequence[Any], by_id: dict[int, Measure]) -> list[DailySummary]:
    result = []
    for row in rows:
        m = by_id[int(row["type_id"])]
        n, total = int(row["sample_count"]), row["total"]
        mean = total / n if m.method is Method.DESCRIBE and n and total is not None else None
        result.append(
            DailySummary(
                m.code,
                row["day_on"],
                m.unit,
                m.method.value,
                n,
                total,
                row["low"],
                row["high"],
                mean,
                row["first_ms"],
                row["last_ms"],
                row["first_offset_min"],
            )
        )
    return result


def daily_values(write: Writer, type_code: str, from_ms: int | None = None) -> dict[date, float]:
    """The one number per local day of a type ({} when there is none), for baselines."""
    return values_of(daily_summaries(write, [type_code], from_ms))


def values_of(days: Sequence[DailySummary]) -> dict[date, float]:
    """The one number per day of summaries of one type (days without one left out)."""
    return {s.day_on: s.value for s in days if s.value is not None}


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one day that one source won, and what it contributed there."""

    start: str  # local ISO 8601
    end: str
    source: str
    amount: float
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "source": self.source,
            "amount": {"value": round(self.amount, 6), "unit": self.unit},
        }


def explain_day(write: Writer, type_code: str, day: str | date) -> tuple[Span, ...]:
    """Which source counted for which stretch of one local day (summed and timed types).

    Raises:
        NotFound: unknown type, or no data that day.
        InvalidRequest: a bad date, or a type that is not summed (nothing to de-duplicate).
    """
    measure = _find(write, type_code)
    wanted = parse_day(day, "The day")
    assert wanted is not None
    if measure.method in (Method.DESCRIBE, Method.SLEEP):
        raise InvalidRequest(
            f"{measure.code} is not summed, so no source is preferred over another.",
            hint="Explanations are for summed types such as steps, distance and energy.",
        )
    summaries.catch_up(write)
    row = daily_rows.day_bounds(write, measure.type_id, wanted)
    if row is None or row[0] is None:
        raise NotFound(f"There is no {measure.code} data on {wanted}.")
    first_ms, last_ms, first_offset_min = row
    names = source_names(write)
    offset = int(first_offset_min or 0)
    scale = 1 / summaries.MINUTES if measure.method is Method.DURATION else 1.0
    return tuple(
        Span(
            iso_instant(start, offset) or "",
            iso_instant(end, offset) or "",
            names.get(source_id, str(source_id)),
            amount * scale,
            measure.unit,
        )
        for start, end, source_id, amount in aggregate.spans(
            write,
            measure.type_id,
            int(first_ms),
            int(last_ms),
            ranked_source_ids(write, measure.code),
            table=measure.table,
            value_codes=measure.value_codes,
            duration=measure.method is Method.DURATION,
        )
    )
