"""A person's rows of each table, columns as stored: what "download everything" writes as CSV.

Only the person's own door reaches this (`Reader.table_rows`); secrets such as password and
token hashes are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, Select, Table, Text, cast, select

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
    """One table's rows as stored, in column order, a batch of driver tuples at a time. The
    cells of the `json` columns are the stored JSON text (not decoded: the export re-encodes
    it compactly itself)."""

    name: str
    columns: list[str]
    json: frozenset[int]  # positions of the JSON columns
    batches: Iterator[list[tuple[Any, ...]]]


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
    return TableRows(
        table.name,
        [c.name for c in columns],
        frozenset(i for i, c in enumerate(columns) if isinstance(c.type, JSON)),
        _batches(conn, query),
    )


def _batches(conn: Connection, query: Select[Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of `query` as the driver gives them, in the connection's transaction.

    Straight from the driver's cursor (a server-side one on PostgreSQL, so memory stays
    flat): SQLAlchemy's row objects, made one per row, were a tenth of a large export's
    time, and these columns need none of its conversions (numbers, text, dates as the
    driver reads them; JSON cast to text). The only bound values are ids, written inline.
    """
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw: Any = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = raw.cursor(name="healthpod_table_rows") if postgres else raw.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield batch
    finally:
        cursor.close()


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
