"""The person's local time on pages: the UTC offset their latest data was recorded in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Connection, select

from healthpod.store import schema


def offset_min(conn: Connection, person_id: int) -> int:
    """The offset of the person's latest day with data (0 when there is none yet)."""
    d = schema.daily_summaries
    found = conn.scalar(
        select(d.c.first_offset_min)
        .where(d.c.person_id == person_id, d.c.first_offset_min.is_not(None))
        .order_by(d.c.day_on.desc())
        .limit(1)
    )
    return int(found or 0)


def today(offset: int) -> date:
    """Today's date at this offset."""
    return datetime.now(UTC).astimezone(timezone(timedelta(minutes=offset))).date()
