"""The job queue's tables on PostgreSQL: procrastinate's own schema, beside ours.

procrastinate ships its schema as SQL (tables `procrastinate_*`, their functions and
triggers); `healthpod db upgrade` (and `init`) applies it once on PostgreSQL. It is not in
our Alembic migration because it is not ours: a procrastinate upgrade that changes it ships
its own migration files, to apply with its `procrastinate schema` tooling. SQLite has no
queue (the server runs the jobs, `jobs.queue`).
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect

PREFIX = "procrastinate_"


def is_queue_table(name: str) -> bool:
    return name.startswith(PREFIX)


def present(engine: Engine) -> bool:
    return "procrastinate_jobs" in inspect(engine).get_table_names()


def ensure(engine: Engine) -> bool:
    """Create the queue's tables on PostgreSQL if they are missing; True if it made them."""
    if engine.dialect.name != "postgresql" or present(engine):
        return False
    from procrastinate.schema import SchemaManager

    sql = SchemaManager.get_schema()
    with engine.begin() as conn:
        # Many statements in one: psycopg sends a query without parameters as it is.
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    return True
