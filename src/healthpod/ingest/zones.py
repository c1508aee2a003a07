"""The time zone to assume for sources that write no zone (Fitbit, Google Fit).

Fitbit writes wall-clock times ("12/31/17 16:42:00") and Google Fit UTC instants, neither with
the person's offset. When the person names their zone (`healthpod import --tz`, or the pod
setting `healthpod settings set timezone`), `run.run_import` sets it around the importer with
`assumed_zone`, and those importers ask `wall_clock_ms` and `offset_min_at` for each time: the
offset is the zone's at that very instant, so winter and summer times each get their own. With
no zone they keep +00:00 and say so in a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from healthpod.errors import InvalidRequest

_assumed: ContextVar[ZoneInfo | None] = ContextVar("assumed_zone", default=None)

# What the zone-less importers add to their "stored with offset +00:00" warning.
HOW_TO_SAY = "give your time zone with --tz or `healthpod settings set timezone`"


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`, such as Europe/Stockholm.

    Raises:
        InvalidRequest: no such zone (the hint names a few close ones).
    """
    text = name.strip()
    try:
        if text and "\x00" not in text and len(text) <= 64 and not text.startswith("/"):
            return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    near = sorted(z for z in available_timezones() if text and text.lower() in z.lower())[:5]
    raise InvalidRequest(
        f"{name!r} is not a time zone.",
        hint="Name it as in the IANA database, e.g. Europe/Stockholm or America/New_York"
        + (f" (close: {', '.join(near)})." if near else "."),
    )


@contextmanager
def assumed_zone(zone: ZoneInfo | None) -> Iterator[None]:
    """Read zone-less times in `zone` while the block runs (None: at +00:00)."""
    token = _assumed.set(zone)
    try:
        yield
    finally:
        _assumed.reset(token)


def assumed() -> ZoneInfo | None:
    """The zone set by `assumed_zone`, if any."""
    return _assumed.get()


def wall_clock_ms(moment: datetime) -> int:
    """Epoch ms of a wall-clock time written without a zone: in the assumed zone (its offset on
    that date; the earlier of two in the hour a clock goes back), else at +00:00."""
    zone = _assumed.get()
    return int(moment.replace(tzinfo=zone or UTC).timestamp() * 1000)


def offset_min_at(epoch_ms: int) -> int:
    """The assumed zone's offset at this instant, in minutes east of UTC (0 without a zone)."""
    zone = _assumed.get()
    if zone is None:
        return 0
    offset = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)
