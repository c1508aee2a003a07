"""Opening a Health Connect database from outside without trusting it.

The file is a copy we made (never the person's original), opened read-only and immutable with
the standard library's sqlite3. Before a single record is read the schema is checked: a
database with a trigger, a view, a virtual table or anything but its main schema is refused,
as is one whose version or tables are not Health Connect's. Every statement afterwards is our
own, on names from `hc_schema` (never from the file), under an authorizer that allows reading
and nothing else, with values capped at `MAX_VALUE_BYTES` (a larger text or blob stops the
import) and generated columns never read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthpod.errors import MalformedFile
from healthpod.ingest.android import hc_schema

MAX_VALUE_BYTES = 1024 * 1024  # no name, title or note of a record comes near 1 MB
FETCH = 2000
HINT = "Export again from Health Connect (Manage data → Backup and restore → Export data)."
NOT_HEALTH_CONNECT = (
    "Import the zip Health Connect writes (health_connect_export.zip) or the "
    "health_connect_export.db inside it."
)

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_ALLOWED_PRAGMAS = {"table_xinfo", "user_version", "database_list"}


def _authorize(action: int, arg1: str | None, arg2: str | None, db: str | None, _: Any) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _ALLOWED_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def quoted(name: str) -> str:
    """An identifier from `hc_schema`, quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class HealthConnectDatabase:
    """A checked, read-only Health Connect database: its tables and their plain columns."""

    conn: sqlite3.Connection
    filename: str
    version: int
    columns: dict[str, set[str]] = field(default_factory=dict)  # table → ordinary columns

    def has(self, table: str, *columns: str) -> bool:
        found = self.columns.get(table)
        return found is not None and all(c in found for c in columns)

    def require(self, table: str, columns: Sequence[str]) -> None:
        """Raises: MalformedFile: the table lacks one of `columns` (not Health Connect's schema)."""
        missing = [c for c in columns if c not in self.columns.get(table, set())]
        if missing:
            raise MalformedFile(
                f"table {table} has no column {', '.join(missing)}; this is not the database "
                f"schema Health Connect writes (version {self.version}).",
                source=self.filename,
                hint=HINT,
            )

    def rows(self, sql: str, where: str) -> Iterator[tuple[Any, ...]]:
        """Rows of our own query, streamed.

        Raises:
            MalformedFile: a value larger than MAX_VALUE_BYTES, or a damaged database.
        """
        try:
            cursor = self.conn.execute(sql)
            while batch := cursor.fetchmany(FETCH):
                yield from batch
        except sqlite3.DataError as exc:
            raise MalformedFile(
                f"{where} holds a value larger than {MAX_VALUE_BYTES // 1024} KB ({exc}); "
                "no Health Connect record is that large. Nothing was imported.",
                source=self.filename,
                hint=HINT,
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise MalformedFile(
                f"{where} cannot be read ({exc}); the database is damaged.",
                source=self.filename,
                hint=HINT,
            ) from exc

    def select(self, table: str, columns: Sequence[str], *, order: str = "row_id") -> str:
        names = ", ".join(quoted(c) for c in columns)  # names from hc_schema, never the file
        return f"SELECT {names} FROM {quoted(table)} ORDER BY {quoted(order)}"  # noqa: S608


@contextmanager
def open_database(path: Path, filename: str) -> Iterator[HealthConnectDatabase]:
    """Open and check our copy of a Health Connect database.

    Raises:
        MalformedFile: not an SQLite database, or one with triggers, views, virtual tables,
            an attached database, a version or tables that are not Health Connect's.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise MalformedFile(f"the database cannot be opened ({exc}).", source=filename) from exc
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA query_only=ON")
        conn.set_authorizer(_authorize)
        yield _checked(conn, filename)
    except sqlite3.DatabaseError as exc:
        raise MalformedFile(
            f"this is not a readable SQLite database ({exc}).",
            source=filename,
            hint=NOT_HEALTH_CONNECT,
        ) from exc
    finally:
        conn.close()


def _checked(conn: sqlite3.Connection, filename: str) -> HealthConnectDatabase:
    schemas = [row[1] for row in conn.execute("PRAGMA database_list")]
    if [s for s in schemas if s not in ("main", "temp")]:
        raise MalformedFile(
            f"the database has other databases attached ({', '.join(schemas)}).",
            source=filename,
            hint=HINT,
        )
    objects = conn.execute("SELECT type, name, sql FROM main.sqlite_master").fetchall()
    for kind, name, sql in objects:
        text = (sql or "").lstrip().upper()
        if kind in ("trigger", "view") or text.startswith("CREATE VIRTUAL TABLE"):
            what = "a virtual table" if kind == "table" else f"a {kind}"
            raise MalformedFile(
                f"the database holds {what} ({name!r}). Health Connect never writes one, and "
                "healthpod runs no SQL from a file it imports; nothing was imported.",
                source=filename,
                hint=HINT,
            )
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    tables = sorted(name for kind, name, _ in objects if kind == "table")
    if hc_schema.APP_TABLE not in tables:
        raise MalformedFile(
            "this SQLite database is not a Health Connect export: it has no "
            f"{hc_schema.APP_TABLE}.",
            source=filename,
            hint=NOT_HEALTH_CONNECT,
        )
    if not hc_schema.MIN_VERSION <= version <= hc_schema.MAX_VERSION:
        raise MalformedFile(
            f"the database says it is schema version {version}; healthpod reads Health Connect "
            f"databases of versions {hc_schema.MIN_VERSION} to {hc_schema.MAX_VERSION}.",
            source=filename,
            hint=HINT,
        )
    database = HealthConnectDatabase(conn, filename, version)
    for table in tables:
        info = conn.execute(f"PRAGMA table_xinfo({quoted(table)})").fetchall()
        # hidden: 0 ordinary, 2 and 3 generated (computed by the file's SQL): never read
        database.columns[table] = {row[1] for row in info if row[6] == 0}
    database.require(hc_schema.APP_TABLE, hc_schema.APP_COLUMNS)
    return database
