"""Local days and instants as they appear in statistics: epoch day numbers, dates, ISO 8601."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from healthpod.errors import InvalidRequest

EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days since 1970-01-01 (the bucket number of a local day)."""
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=number)


def iso_instant(ms: int | None, offset_min: int | None = None) -> str | None:
    """An epoch-ms instant as ISO 8601: in UTC ("…Z"), or in the given local offset."""
    if ms is None:
        return None
    if offset_min is None:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    zone = timezone(timedelta(minutes=offset_min))
    return datetime.fromtimestamp(ms / 1000, zone).isoformat()


def local_hour(bucket: int, offset_min: int) -> datetime:
    """The start of local hour `bucket` (hours since 1970-01-01 local) in the given offset."""
    naive = datetime(1970, 1, 1) + timedelta(hours=bucket)
    return naive.replace(tzinfo=timezone(timedelta(minutes=offset_min)))


def parse_day(value: str | date | None, what: str) -> date | None:
    """A local date from YYYY-MM-DD (or None).

    Raises:
        InvalidRequest: the value is not a date.
    """
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(
            f"{what} {value!r} is not a date.", hint="Write dates as YYYY-MM-DD, e.g. 2026-03-29."
        ) from None
