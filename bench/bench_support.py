"""What the benchmarks share: a fresh database on the engine asked for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from healthpod.store.engine import make_engine


@contextmanager
def fresh_database(server_url: str | None, home: Path, *, prefix: str) -> Iterator[str]:
    """A SQLite file in `home`, or a new database on the PostgreSQL server (dropped after)."""
    if server_url is None:
        yield f"sqlite:///{home / 'healthpod.db'}"
        return
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


APP_ROLE = "bench_region_app"  # a role like the app's, shared by the benches


def as_app_role(url: str) -> str:
    """`url` as a role like the app's (`healthpod db roles`): no superuser, no BYPASSRLS, rows
    only, so every query goes through the row-level security policies. Made if missing and
    granted this database's tables; it logs in without a password, so the server must let
    it (trust for local connections, as a test server does)."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}) is None:
            conn.execute(
                text(
                    f'CREATE ROLE "{APP_ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB '
                    "NOCREATEROLE"
                )
            )
        database = conn.scalar(text("SELECT current_database()"))
        for grant in (
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{APP_ROLE}"',
            f'GRANT USAGE ON SCHEMA public TO "{APP_ROLE}"',
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{APP_ROLE}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{APP_ROLE}"',
        ):
            conn.execute(text(grant))
    engine.dispose()
    return make_url(url).set(username=APP_ROLE).render_as_string(hide_password=False)
