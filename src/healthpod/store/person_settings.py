"""What a person set for their own pod: the time zone of sources that write none, and the
language they chose in the web app."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from healthpod.store import rls, schema
from healthpod.store.person_data import Reader, Writer

_persons = schema.persons


def time_zone(conn: Connection, person_id: int) -> str | None:
    """The IANA zone the person set (`healthpod settings set timezone`), or None."""
    rls.act_for(conn, person_id)
    found = conn.scalar(select(_persons.c.time_zone).where(_persons.c.id == person_id))
    return str(found) if found else None


def set_time_zone(conn: Connection, person_id: int, zone: str | None) -> None:
    """Set (or, with None, forget) the person's time zone; the caller checked the name."""
    rls.act_for(conn, person_id)
    conn.execute(update(_persons).where(_persons.c.id == person_id).values(time_zone=zone))


def time_zone_of(read: Reader) -> str | None:
    """`time_zone` through the person's door."""
    return time_zone(read.conn, read.person_id)


def set_time_zone_of(write: Writer, zone: str | None) -> None:
    """`set_time_zone` through the person's door."""
    set_time_zone(write.conn, write.person_id, zone)


def language(conn: Connection, person_id: int) -> str | None:
    """The language the person chose in the web app (sv|en), or None."""
    rls.act_for(conn, person_id)
    found = conn.scalar(select(_persons.c.language).where(_persons.c.id == person_id))
    return str(found) if found else None


def set_language_of(write: Writer, language: str | None) -> None:
    """Keep the person's chosen language (the caller checked it is one we have)."""
    rls.act_for(write.conn, write.person_id)
    write.conn.execute(
        update(_persons).where(_persons.c.id == write.person_id).values(language=language)
    )


def language_of(read: Reader) -> str | None:
    """`language` through the person's door."""
    return language(read.conn, read.person_id)
