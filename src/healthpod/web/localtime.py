"""The person's local time on pages: the time zone they set (`healthpod settings set
timezone`), or else the UTC offset their latest data was recorded in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthpod.store import daily_summaries, person_settings
from healthpod.store.person_data import PersonData, Reader


@dataclass(frozen=True, slots=True)
class Zone:
    """Where the person's days start and end, and how to name it to them."""

    tz: tzinfo
    label: str  # "Europe/Stockholm", or "UTC+01:00" when only an offset is known


def person_zone(read: Reader) -> Zone:
    """The person's zone: the one they set, else the offset of their latest data (UTC when
    there is none yet)."""
    named = named_zone(read)
    if named is not None:
        return Zone(named, named.key)
    offset = offset_min(read)
    return Zone(timezone(timedelta(minutes=offset)), offset_label(offset))


def zone_of(data: PersonData) -> Zone:
    """`person_zone` through the person's door, in a read of its own."""
    with data.reader() as read:
        return person_zone(read)


def named_zone(read: Reader) -> ZoneInfo | None:
    """The IANA zone the person set, or None (none set, or unknown to this system)."""
    name = person_settings.time_zone_of(read)
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def offset_label(offset: int) -> str:
    """`UTC+01:00` for an offset of 60 minutes."""
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def offset_min(read: Reader) -> int:
    """The offset of the person's latest day with data (0 when there is none yet)."""
    return daily_summaries.latest_offset_min(read)


def today(offset: int) -> date:
    """Today's date at this offset."""
    return datetime.now(UTC).astimezone(timezone(timedelta(minutes=offset))).date()


def request_zone(state: object) -> tzinfo:
    """The zone pages of this request show times in (`request.state`, filled at login check):
    the person's named zone, else the offset of their latest data."""
    named = getattr(state, "zone", None)
    if isinstance(named, tzinfo):
        return named
    return timezone(timedelta(minutes=int(getattr(state, "offset_min", 0) or 0)))
