"""Engines for SQLite (WAL, foreign keys on) and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from sqlalchemy import Connection as Connection
from sqlalchemy import Engine as Engine
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, pooler: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and a busy timeout.

    `pooler`: a pooler in transaction mode (PgBouncer) is in front of PostgreSQL, so psycopg
    prepares no statements (a prepared statement lives on one server connection, which the
    next transaction may not get).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
    if pooler and parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only (0600) before SQLite does.

    SQLite gives the -wal and -shm files it makes later the database file's own mode, so
    they are 0600 too. An existing file is left as it is.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; we issue BEGIN
    # ourselves (see _begin_sqlite), as the SQLAlchemy docs recommend.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def for_reads(engine: Engine) -> Engine:
    """`engine` for reads that need no transaction of their own (a token lookup, a page).

    The engine itself. PostgreSQL reads once ran in autocommit, saving a BEGIN and a ROLLBACK;
    row-level security needs the person named in a transaction-local setting, so every read
    runs in a transaction (`store.rls`).
    """
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
