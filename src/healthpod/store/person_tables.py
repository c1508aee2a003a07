"""A person's rows of each table, columns as stored: what "download everything" writes as CSV.

Only the person's own door reaches this (`Reader.table_rows`); secrets such as password and
token hashes are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Table, select

from healthpod.store import rls, schema

BATCH = 2000
TABLES: tuple[Table, ...] = (
    schema.sources,
    schema.source_type_priorities,
    schema.devices,
    schema.imports,
    schema.quantity_samples,
    schema.category_samples,
    schema.correlations,
    schema.workouts,
    schema.activity_summaries,
    schema.daily_summaries,
    schema.resources,
    schema.restrictions,
    schema.marked_wrong,
    schema.tombstones,
    schema.consents,
    schema.consent_history,
    schema.access_log,
    schema.moved_history,
)
LEFT_OUT_COLUMNS = {"password_hash", "token_hash", "code_hash", "client_secret_hash"}


def table_rows(conn: Connection, person_id: int) -> Iterator[tuple[str, list[str], Iterator[Any]]]:
    """(table name, column names, rows): the person's own row of `persons`, each of the
    person's tables, then the shared `sample_types` table whole (what the samples' type_id
    columns mean)."""
    rls.act_for(conn, person_id)
    persons = schema.persons
    columns = list(persons.c)
    me = conn.execute(select(*columns).where(persons.c.id == person_id))
    yield persons.name, [c.name for c in columns], iter(me)
    for table in TABLES:
        yield table.name, *_rows(conn, table, person_id)
    yield schema.actors.name, *_actors(conn, person_id)
    yield schema.sample_types.name, *_rows(conn, schema.sample_types, None)


def _rows(conn: Connection, table: Table, person_id: int | None) -> tuple[list[str], Iterator[Any]]:
    columns = [c for c in table.c if c.name not in LEFT_OUT_COLUMNS]
    query = select(*columns).order_by(*table.primary_key.columns)
    if person_id is not None:
        query = query.where(table.c.person_id == person_id)
    # Per statement: Connection.execution_options would make every later statement stream too.
    rows = conn.execute(query.execution_options(yield_per=BATCH))
    return [c.name for c in columns], iter(rows)


def _actors(conn: Connection, person_id: int) -> tuple[list[str], Iterator[Any]]:
    """The actors the person's consents and access log name (not their secrets)."""
    a, c, log = schema.actors, schema.consents, schema.access_log
    named = (
        select(c.c.actor_id)
        .where(c.c.person_id == person_id)
        .union(
            select(log.c.actor_id).where(log.c.person_id == person_id, log.c.actor_id.is_not(None))
        )
    )
    columns = [col for col in a.c if col.name not in LEFT_OUT_COLUMNS]
    rows = conn.execute(select(*columns).where(a.c.id.in_(named)).order_by(a.c.id))
    return [col.name for col in columns], iter(rows)


def resource_types(conn: Connection, person_id: int) -> list[str]:
    rls.act_for(conn, person_id)
    r = schema.resources
    query = select(r.c.resource_type).where(r.c.person_id == person_id).distinct()
    return sorted(str(t) for t in conn.scalars(query))
