"""What the benchmarks share: a fresh database on the engine asked for."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

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
