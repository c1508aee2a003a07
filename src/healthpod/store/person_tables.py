"""A person's rows of each table, columns as stored: what "download everything" writes as CSV.

Only the person's own door reaches this (`Reader.table_rows`); secrets such as password and
token hashes are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, Table, Text, cast, select

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


@dataclass(frozen=True, slots=True)
class TableRows:
    """One table's rows as stored, in column order. The cells of the `json` columns are the
    stored JSON text (not decoded: the export re-encodes it compactly itself)."""

    name: str
    columns: list[str]
    json: frozenset[int]  # positions of the JSON columns
    rows: Iterator[Any]


def table_rows(conn: Connection, person_id: int) -> Iterator[TableRows]:
    """The person's own row of `persons`, each of the person's tables, then the shared
    `sample_types` table whole (what the samples' type_id columns mean)."""
    rls.act_for(conn, person_id)
    yield _rows(conn, schema.persons, schema.persons.c.id == person_id)
    for table in TABLES:
        yield _rows(conn, table, table.c.person_id == person_id)
    yield _actors(conn, person_id)
    yield _rows(conn, schema.sample_types, None)


def _rows(conn: Connection, table: Table, where: Any) -> TableRows:
    columns = [c for c in table.c if c.name not in LEFT_OUT_COLUMNS]
    # JSON as the text stored: decoding it here only for the export to encode it again was
    # a tenth of a large export's time.
    selected = [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in columns]
    query = select(*selected).order_by(*table.primary_key.columns)
    if where is not None:
        query = query.where(where)
    # Per statement: Connection.execution_options would make every later statement stream too.
    rows = conn.execute(query.execution_options(yield_per=BATCH))
    return TableRows(
        table.name,
        [c.name for c in columns],
        frozenset(i for i, c in enumerate(columns) if isinstance(c.type, JSON)),
        iter(rows),
    )


def _actors(conn: Connection, person_id: int) -> TableRows:
    """The actors the person's consents and access log name (not their secrets)."""
    a, c, log = schema.actors, schema.consents, schema.access_log
    named = (
        select(c.c.actor_id)
        .where(c.c.person_id == person_id)
        .union(
            select(log.c.actor_id).where(log.c.person_id == person_id, log.c.actor_id.is_not(None))
        )
    )
    return _rows(conn, a, a.c.id.in_(named))


def resource_types(conn: Connection, person_id: int) -> list[str]:
    rls.act_for(conn, person_id)
    r = schema.resources
    query = select(r.c.resource_type).where(r.c.person_id == person_id).distinct()
    return sorted(str(t) for t in conn.scalars(query))
