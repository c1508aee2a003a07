"""One import, one transaction: the `imports` row, the connection's set-up, storage errors.

`begin_import` opens the transaction and writes the import's `running` row; the caller hands
its items to the session it gets (`ImportTransaction.session`, then `write`), and `complete`
brings the daily summaries up to date and marks the row `completed`. Leaving the block by an
exception rolls everything back, so a killed or failed import leaves nothing half written; a
database error comes out as a `StorageError`, and `record_failure` then keeps a `failed` row
for the history, in a transaction of its own.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from healthpod.errors import StorageError
from healthpod.store import rls, schema
from healthpod.store.engine import is_sqlite

if TYPE_CHECKING:
    from healthpod.store.imports.items import Item
    from healthpod.store.imports.session import DailySummaries, ImportSession, Tally

logger = logging.getLogger(__name__)

SQLITE_CACHE_KIB = 32 * 1024
IMPORT_LOCK = 0x68706F64  # the first key of PostgreSQL's advisory lock for a person's imports
# What the database (or sqlite3 itself, on the bulk path) raises when it fails.
STORAGE_ERRORS = (DBAPIError, SQLAlchemyError, sqlite3.Error)


class ImportTransaction:
    """An import's open transaction: its `imports` row is written, its items are not yet."""

    def __init__(self, conn: Connection, *, person_id: int, import_id: int) -> None:
        self.conn = conn
        self.person_id = person_id
        self.import_id = import_id
        self._session: ImportSession | None = None

    def session(self, summaries: DailySummaries | None = None) -> ImportSession:
        """The writers' session. Their modules (numpy, the dialects' inserts) load here, so a
        reader process given its file just before parses while they do."""
        from healthpod.store.imports.session import ImportSession

        if self._session is None:
            self._session = ImportSession(
                self.conn,
                person_id=self.person_id,
                import_id=self.import_id,
                summaries=summaries,
            )
        return self._session

    def write(self, items: Iterable[Item]) -> None:
        """Store the items, batched by kind (see `writers.write_items`)."""
        from healthpod.store.imports.writers import write_items

        write_items(self.session(), items)

    def complete(self, *, sha256: str, finished_ms: int) -> Tally:
        """Finish the daily summaries and mark the import completed; returns what it did."""
        from healthpod.store import deletion
        from healthpod.store.imports import summarizing
        from healthpod.store.imports.items import Warning_

        session = self.session()
        # What the person deleted before stays deleted (their tombstones), whatever the file says.
        purged = deletion.purge_import(self.conn, self.person_id, self.import_id)
        summarizing.finish(session)
        if session.carried:  # marks and restrictions from another pod, on rows now written
            from healthpod.store.imports import carried

            marked = carried.apply(session)
            if marked and session.summaries is not None:
                session.summaries.refresh_days(session.owner, marked)
        tally = session.tally
        if purged.rows:
            if purged.ranges and session.summaries is not None:
                session.summaries.refresh_days(session.owner, purged.ranges)
            for code, n in purged.by_code.items():
                tally.added[code] -= n
                if tally.added[code] <= 0:
                    del tally.added[code]
            tally.warnings.append(
                Warning_(
                    "",
                    f"{sum(purged.rows.values())} items you deleted before were not imported "
                    "again; `healthpod data tombstones` lists them and lifts them.",
                )
            )
        self.conn.execute(
            update(schema.imports)
            .where(schema.imports.c.id == self.import_id)
            .values(
                sha256=sha256,
                status="completed",
                added=dict(tally.added),
                already_present=sum(tally.present.values()),
                unknown_types=sorted(tally.unknown_types),
                warnings=[{"location": w.location, "message": w.message} for w in tally.warnings],
                references=tally.references or None,
                export_ms=tally.export_ms,
                finished_ms=finished_ms,
            )
        )
        return tally


@contextmanager
def begin_import(
    engine: Engine, *, person_id: int, filename: str, format: str, started_ms: int
) -> Iterator[ImportTransaction]:
    """Open the import's transaction and write its `running` row; commit when the block ends.

    Raises:
        StorageError: the database failed (full disk, say); nothing was stored.
    """
    try:
        with _transaction(engine, person_id) as conn:
            import_id = int(
                conn.scalar(
                    insert(schema.imports)
                    .values(
                        person_id=person_id,
                        filename=filename,
                        sha256="",
                        format=format,
                        status="running",
                        added={},
                        unknown_types=[],
                        warnings=[],
                        started_ms=started_ms,
                    )
                    .returning(schema.imports.c.id)
                )
            )
            yield ImportTransaction(conn, person_id=person_id, import_id=import_id)
    except STORAGE_ERRORS as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        first_line = (str(cause).splitlines() or [""])[0]
        raise StorageError(
            f"{filename}: the database refused the import ({type(cause).__name__}: "
            f"{first_line}); nothing was stored.",
            hint="Check free disk space and that the database is reachable, then import again.",
        ) from exc


@contextmanager
def _transaction(engine: Engine, person_id: int) -> Iterator[Connection]:
    """One transaction for the whole import.

    On SQLite the connection runs it with foreign-key checks off and a larger page cache:
    every id an import writes was looked up or created in this same transaction, so the
    checks (half the cost of a sample insert) cannot fail. Both are restored afterwards.
    PostgreSQL does the same where the role may (`_prepare_postgres`).
    """
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        try:
            with conn.begin():
                if raw is None:
                    _prepare_postgres(conn, person_id)
                yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
                raw.execute("PRAGMA cache_size=-2000")


def _prepare_postgres(conn: Connection, person_id: int) -> None:
    """On PostgreSQL: one import of a person at a time, and no per-row foreign-key checks.

    The import takes its person's transaction-level advisory lock, so a second import of the
    same person waits for the first to finish: the de-duplicating inserts (`pg_copy`) then
    see every sample stored before them (only imports write samples).

    A foreign-key check is a trigger per row and key: four of them cost three times the
    insert of a sample itself. `session_replication_role = replica` turns them off until the
    transaction ends (`SET LOCAL`, so a pooled connection is handed on as it was); a role may
    set it if it is a superuser or was granted it (`GRANT SET ON PARAMETER
    session_replication_role`, PostgreSQL 15 and later); otherwise the checks stay on and the
    import is only slower. Like the checks themselves, the person's row is locked against
    deletion (`FOR KEY SHARE`) until the import commits, so an erase that runs meanwhile
    waits for it and then removes its rows too.
    """
    rls.act_for(conn, person_id)
    conn.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK, person_id)))
    conn.execute(
        select(schema.persons.c.id)
        .where(schema.persons.c.id == person_id)
        .with_for_update(read=True, key_share=True)
    )
    allowed = "current_setting('is_superuser') = 'on'"
    if (conn.dialect.server_version_info or (0,)) >= (15,):
        allowed += " OR has_parameter_privilege('session_replication_role', 'SET')"
    if conn.exec_driver_sql(f"SELECT {allowed}").scalar():
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def record_failure(
    engine: Engine,
    *,
    person_id: int,
    filename: str,
    sha256: str,
    format: str,
    started_ms: int,
    finished_ms: int,
    error: str,
) -> None:
    """Keep a `failed` row for the history; if even that fails, the error still reaches the user."""
    try:
        with engine.begin() as conn:
            rls.act_for(conn, person_id)
            conn.execute(
                insert(schema.imports).values(
                    person_id=person_id,
                    filename=filename,
                    sha256=sha256,
                    format=format,
                    status="failed",
                    added={},
                    unknown_types=[],
                    warnings=[],
                    started_ms=started_ms,
                    finished_ms=finished_ms,
                    error=error,
                )
            )
    except SQLAlchemyError:
        logger.warning("could not record the failed import of %s", filename, exc_info=True)
