"""One type: a chart with hour/day/week/month buckets and zoom, its sources, and the raw samples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from fastapi import APIRouter, Request, Response

from healthpod.errors import HealthpodError, NotFound
from healthpod.insights import sources, stats
from healthpod.insights.measures import Measure, Method, find_measure
from healthpod.store import daily_summaries
from healthpod.store import samples as stored_samples
from healthpod.store.person_data import Reader
from healthpod.web import labels
from healthpod.web.auth import PersonDep
from healthpod.web.filter_errors import BadFilter
from healthpod.web.i18n import N_
from healthpod.web.localtime import request_zone
from healthpod.web.pages.overview import bucket_value, local_today
from healthpod.web.render import gettext_for, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DAY_MS = 86_400_000
# How far back each bucket size looks when the person gives no dates.
DEFAULT_SPAN = {"hour": 2, "day": 30, "week": 182, "month": 365}

MAX_PAGE = 1_000_000  # far past any table; a larger page overflows the database's offset


@dataclass(frozen=True, slots=True)
class RawSample:
    start_ms: int
    end_ms: int
    offset_min: int
    value: str  # a category value; "" for a quantity
    source: str
    number: float | None = None
    unit: str = ""
    id: str = ""  # as the FHIR API shows it: q-12, c-3
    wrong: str | None = None  # the reason ("" without one) when marked wrong


def _epoch(start: str) -> int:
    """Chart x value of a bucket start: a local date (noon UTC) or a local ISO datetime."""
    if "T" in start:
        return int(datetime.fromisoformat(start).timestamp())
    day = date.fromisoformat(start)
    return int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp())


def _range(request: Request, by: str, today: date) -> tuple[date, date]:
    """The period the form asks for (the default span up to today when it asks for none).

    Raises:
        BadFilter: a date that is not one, or "To" before "From".
    """
    params = request.query_params
    sent_to, sent_from = params.get("to", "").strip(), params.get("from", "").strip()
    try:
        end = date.fromisoformat(sent_to) if sent_to else today
    except ValueError:
        raise _not_a_date(sent_to) from None
    try:
        start = (
            date.fromisoformat(sent_from)
            if sent_from
            else end - timedelta(days=DEFAULT_SPAN.get(by, 30) - 1)
        )
    except (ValueError, OverflowError):
        raise _not_a_date(sent_from) from None
    if start > end:
        raise BadFilter(
            N_("The “To” date is before the “From” date."),
            N_("Pick a later “To” date, or an earlier “From” date, and press Show."),
        )
    return start, end


def _not_a_date(value: str) -> BadFilter:
    return BadFilter(
        N_("“%(value)s” is not a date in the form YYYY-MM-DD."),
        N_("Pick the dates with the date fields and press Show."),
        value=value,
    )


def _local_ms(day: date, zone: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def raw_samples(
    read: Reader,
    type_id: int,
    kind: str,
    page: int,
    period: tuple[int, int] | None = None,
) -> tuple[list[RawSample], int]:
    """One page of the type's stored samples, newest first, and how many there are; only
    those that start in `period` (epoch ms, end exclusive) when given."""
    from_ms, to_ms = period if period is not None else (None, None)
    rows, total = stored_samples.page(
        read,
        type_id,
        kind,
        limit=PAGE_SIZE,
        offset=page * PAGE_SIZE,
        from_ms=from_ms,
        to_ms=to_ms,
    )
    result = []
    for row in rows:
        if kind == "quantity":
            number, shown, unit_text = float(row[3]), "", labels.unit_label(str(row[5]))
        else:
            number, unit_text = None, ""
            shown = str(row[3]).removeprefix("HKCategoryValueSleepAnalysis")
        prefix = "q" if kind == "quantity" else "c"
        result.append(
            RawSample(
                int(row[0]),
                int(row[1]),
                int(row[2]),
                shown,
                str(row[4]),
                number,
                unit_text,
                f"{prefix}-{row[-2]}",
                row[-1],
            )
        )
    return result, total


@dataclass(frozen=True, slots=True)
class PeriodSource:
    rank: int
    name: str
    samples: int  # of this type in the period
    last_ms: int | None


def period_sources(read: Reader, measure: Measure, start: date, end: date) -> list[PeriodSource]:
    """The sources with samples of this type in the period, in the type's priority order.

    One grouped query over the type's samples in the period (the person/type/start index), not
    over everything the person has, so it stays quick on a pod with years of data.
    """
    # A day either side, since the period is in local days and the samples in UTC.
    first = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    last = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() * 1000)
    counts = stored_samples.per_source(
        read, measure.type_id, measure.kind, first - DAY_MS, last + 2 * DAY_MS
    )
    names = sources.source_names(read)
    ranked = sources.ranked_source_ids(read, measure.code)
    return [
        PeriodSource(rank, names[source_id], counts[source_id][0], counts[source_id][1])
        for rank, source_id in enumerate(ranked, start=1)
        if source_id in counts
    ]


@router.get("/type/{code}")
def type_page(request: Request, code: str, person: PersonDep) -> Response:
    _ = gettext_for(request)
    params = request.query_params
    by = params.get("by", "day")
    if by not in labels.BUCKETS:
        by = "day"
    try:
        page = min(max(0, int(params.get("page", "0"))), MAX_PAGE)
    except ValueError:
        page = 0
    error = None
    no_data: tuple[tuple[date, date], date, date] | None = None
    with person.data.writer(remember=True) as write:
        try:
            measure = find_measure(write, code)
        except NotFound:
            return render(
                request,
                "error.html",
                {
                    "title": _("Page not found"),
                    "message": _("There is no type called “%(value)s” in your pod.", value=code),
                    "hint": _("All my data lists every type you have."),
                    "back": "/all-data",
                },
                status_code=404,
            )
        today = local_today(write)
        try:
            start, end = _range(request, by, today)
        except BadFilter as exc:
            return _bad_period(request, code, measure, by, exc)
        zone = request_zone(request.state)
        period = (_local_ms(start, zone), _local_ms(end + timedelta(days=1), zone))
        try:
            result: stats.Stats | None = stats.bucket_stats(write, code, by, start, end)
        except HealthpodError as exc:
            result, error = None, exc
            span = daily_summaries.day_span(write, measure.type_id)
            if isinstance(exc, NotFound) and span is not None:
                no_data = (span, start, end)
        samples, total = raw_samples(write, measure.type_id, measure.kind, page, period)
        contributing = period_sources(write, measure, start, end)
        # Only the person themselves keeps things to themselves (a delegate sees no toggle).
        restricted_ids = {r.target for r in write.restricted()} if write.owner else None
    rows, series = [], "[[],[]]"
    counted: dict[str, float] = {}
    if result is not None:
        for bucket in result.buckets:
            for name, amount in bucket.by_source.items():
                counted[name] = counted.get(name, 0.0) + amount
        method = result.method.value
        rows = [(b, bucket_value(b, method)) for b in result.buckets]
        xs = [_epoch(b.start) for b in result.buckets]
        if result.method is Method.DESCRIBE:
            series = json.dumps(
                [
                    xs,
                    [b.mean for b in result.buckets],
                    [b.low for b in result.buckets],
                    [b.high for b in result.buckets],
                ]
            )
        else:
            series = json.dumps([xs, [v for _b, v in rows]])
    return render(
        request,
        "type.html",
        {
            "code": code,
            "label": labels.type_label(code),
            "unit": labels.unit_label(measure.unit),
            "method": measure.method.value,
            "by": by,
            "buckets": labels.BUCKETS,
            "start": start,
            "end": end,
            "rows": rows,
            "series": series,
            "series_labels": json.dumps(
                [_("Average"), _("Lowest"), _("Highest")]
                if measure.method is Method.DESCRIBE
                else [_(labels.type_label(code))]
            ),
            "error": error,
            "no_data": no_data,
            "samples": samples,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "sent_from": start.isoformat(),
            "sent_to": end.isoformat(),
            "sources": contributing,
            "counted": counted,
            "restricted_ids": restricted_ids,
            "here": str(request.url.path)
            + (f"?{request.url.query}" if request.url.query else "")
            + "#samples-heading",
        },
    )


def _bad_period(request: Request, code: str, measure: Measure, by: str, bad: BadFilter) -> Response:
    """The type page with only its form, as sent, and what was wrong with it."""
    return render(
        request,
        "type.html",
        {
            "code": code,
            "label": labels.type_label(code),
            "unit": labels.unit_label(measure.unit),
            "method": measure.method.value,
            "by": by,
            "buckets": labels.BUCKETS,
            "bad": bad,
            "sent_from": request.query_params.get("from", ""),
            "sent_to": request.query_params.get("to", ""),
        },
        status_code=400,
    )
