"""PostgreSQL: an import's rows go by binary COPY into a staging table, then one
`INSERT … SELECT` moves them (`insert_all`), or the new ones among them (`insert_new`),
into the table.

COPY carries a batch in one stream, with no statement or parameter processing per row (the
general insert path spent ten times SQLite's time there). The insert then keeps out the rows
whose natural key (the table's unique constraint, as for `ImportSession.insert_new`) is
stored or came earlier in the batch, so importing the same data twice adds nothing, and its
row count is what the batch added.

A staging table is temporary and dropped at commit (`ON COMMIT DROP`): it lives inside the
import's one transaction, so a failed import leaves nothing (staging included), and nothing
outlives the transaction on a connection a transaction-pooling PgBouncer hands on. Its
statements are never prepared (`prepare=False`), as the pooler requires. (COPY cannot go
into the tables themselves: PostgreSQL refuses COPY FROM into a table with row-level
security, and INSERT … SELECT applies the policies to each row.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from psycopg import Connection as PgConnection
from psycopg import sql
from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Connection as SaConnection

_INFO_KEY = "healthpod.staging"
# PostgreSQL's names for the column types the schema uses (for COPY's binary format).
_PG_TYPES: tuple[tuple[type, str], ...] = (
    (SmallInteger, "int2"),
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Float, "float8"),
    (JSON, "json"),
    (Date, "date"),
    (String, "text"),
    (Text, "text"),
)


def pg_type(table: Table, column: str) -> str:
    """The PostgreSQL type name of a column, as COPY and a cast name it."""
    declared = table.c[column].type
    for python_type, name in _PG_TYPES:
        if isinstance(declared, python_type):
            return name
    raise TypeError(f"{table.name}.{column}: no COPY type for {declared!r}")


def driver(conn: SaConnection) -> PgConnection[Any]:
    """The psycopg connection under a SQLAlchemy one (the same transaction)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, PgConnection)
    return raw


class Staging:
    """The staging tables of one transaction, made on first use, one per shape."""

    def __init__(self, conn: SaConnection) -> None:
        self.conn = conn
        self._transaction = conn.get_transaction()
        self._tables: dict[tuple[str, tuple[str, ...], frozenset[str]], str] = {}

    @classmethod
    def of(cls, conn: SaConnection) -> Staging:
        """The staging of the connection's current transaction (a new one for each)."""
        held = conn.info.get(_INFO_KEY)
        if not isinstance(held, Staging) or held._transaction is not conn.get_transaction():
            held = conn.info[_INFO_KEY] = cls(conn)
        return held

    def _table(self, table: Table, columns: tuple[str, ...], json_texts: frozenset[str]) -> str:
        key = (table.name, columns, json_texts)
        name = self._tables.get(key)
        if name is not None:
            return name
        name = f"staging_{table.name}_{len(self._tables)}"
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(
                sql.Identifier(c),
                sql.SQL("text" if c in json_texts else pg_type(table, c)),
            )
            for c in columns
        )
        driver(self.conn).execute(
            sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
                sql.Identifier(name), definition
            ),
            prepare=False,
        )
        self._tables[key] = name
        return name

    def stage(
        self,
        table: Table,
        columns: Mapping[str, Sequence[Any]],
        json_texts: Iterable[str] = (),
    ) -> str | None:
        """COPY the rows given as columns (all of one length) into the (emptied) staging
        table of their shape; its name, or None when there are no rows. A column named in
        `json_texts` holds JSON as text (or None)."""
        names = tuple(columns)
        json_texts = frozenset(json_texts)
        if not names or not len(columns[names[0]]):
            return None
        staging = self._table(table, names, json_texts)
        with driver(self.conn).cursor() as cursor:
            cursor.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(staging)), prepare=False)
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(staging), sql.SQL(", ").join(map(sql.Identifier, names))
            )
            with cursor.copy(copy_sql) as copy:
                copy.set_types(["text" if c in json_texts else pg_type(table, c) for c in names])
                for row in zip(*columns.values(), strict=True):
                    copy.write_row(row)
        return staging

    def insert_new(
        self,
        table: Table,
        constants: Mapping[str, Any],
        columns: Mapping[str, Sequence[Any]],
        *,
        json_texts: Iterable[str] = (),
    ) -> int:
        """Insert the rows given as columns (all of one length), each with the `constants`,
        skipping those whose natural key is stored; return how many were new.

        A column named in `json_texts` holds JSON as text (or None), cast on the way in.
        """
        texts = frozenset(json_texts)
        staging = self.stage(table, columns, texts)
        if staging is None:
            return 0
        statement, params = _insert_new_sql(table, staging, constants, tuple(columns), texts)
        with driver(self.conn).cursor() as cursor:
            cursor.execute(statement, params, prepare=False)
            return max(cursor.rowcount, 0)

    def insert_all(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows (dicts with the same keys; JSON columns as Python values) that are
        known to be new: no de-duplication, the table's constraints still apply."""
        if not rows:
            return
        names = tuple(rows[0])
        staging = self.stage(table, {n: [row[n] for row in rows] for n in names}, frozenset())
        assert staging is not None
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        with driver(self.conn).cursor() as cursor:
            cursor.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    sql.Identifier(table.name), columns, columns, sql.Identifier(staging)
                ),
                prepare=False,
            )

    def next_ids(self, table: Table, count: int) -> list[int]:
        """`count` new values of the table's id sequence, in order."""
        rows = self.conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence(%(table)s, 'id'))"
            " FROM generate_series(1, %(count)s)",
            {"table": table.name, "count": count},
        )
        return [int(value) for (value,) in rows]


def natural_key(table: Table) -> tuple[str, ...]:
    """The columns of the table's unique constraint: what makes a row the same row."""
    keys = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    if len(keys) != 1:
        raise TypeError(f"{table.name}: staging needs exactly one unique constraint")
    columns = tuple(column.name for column in keys[0].columns)
    if any(table.c[name].nullable for name in columns):
        raise TypeError(f"{table.name}: staging needs a natural key without NULLs")
    return columns


def _insert_new_sql(
    table: Table,
    staging: str,
    constants: Mapping[str, Any],
    names: tuple[str, ...],
    json_texts: frozenset[str],
) -> tuple[sql.Composed, list[Any]]:
    """The insert of the staged rows whose natural key is neither stored nor staged before
    them (the first of equal rows wins, as with ON CONFLICT DO NOTHING, in COPY's order).

    An anti-join, not ON CONFLICT: PostgreSQL's speculative insertion costs twice a plain
    insert. Only imports write samples, and an import holds its person's lock
    (`transaction`), so no other transaction adds one of these keys meanwhile.
    """
    key = natural_key(table)
    missing = [k for k in key if k not in constants and k not in names]
    if missing or any(constants.get(k, 0) is None for k in key):
        raise TypeError(f"{table.name}: every natural-key column must be given: {missing}")

    def cast(name: str) -> sql.Composable:
        return sql.SQL("CAST({} AS {})").format(sql.Placeholder(), sql.SQL(pg_type(table, name)))

    fixed = [sql.SQL("NULL") if v is None else cast(n) for n, v in constants.items()]
    staged = [
        sql.SQL("CAST(s.{} AS json)").format(sql.Identifier(c))
        if c in json_texts
        else sql.SQL("s.{}").format(sql.Identifier(c))
        for c in names
    ]
    staged_key = [sql.SQL("s.{}").format(sql.Identifier(k)) for k in key if k in names]
    same = [
        sql.SQL("t.{} = {}").format(
            sql.Identifier(k),
            cast(k) if k in constants else sql.SQL("s.{}").format(sql.Identifier(k)),
        )
        for k in key
    ]
    # A lateral probe, not NOT EXISTS: inside the import's transaction the planner still
    # believes the table as small as before it, and would hash all of the person's stored
    # rows of the type for every batch; a lateral subquery is one index probe per row.
    statement = sql.SQL(
        "INSERT INTO {table} ({columns}) SELECT DISTINCT ON ({key}) {values} FROM {staging} AS s"
        " LEFT JOIN LATERAL (SELECT 1 AS found FROM {table} AS t WHERE {same} LIMIT 1) AS stored"
        " ON true WHERE stored.found IS NULL ORDER BY {key}, s.ctid"
    ).format(
        table=sql.Identifier(table.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, (*constants, *names))),
        key=sql.SQL(", ").join(staged_key),
        values=sql.SQL(", ").join([*fixed, *staged]),
        staging=sql.Identifier(staging),
        same=sql.SQL(" AND ").join(same),
    )
    params = [v for v in constants.values() if v is not None]
    params += [constants[k] for k in key if k in constants]
    return statement, params
