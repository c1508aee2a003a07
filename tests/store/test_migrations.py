from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from tests.conftest import as_superuser

from healthpod.config import Settings
from healthpod.errors import StorageError
from healthpod.pod import Pod
from healthpod.store import migrate, schema
from healthpod.store.engine import make_engine
from healthpod.store.queue_schema import is_queue_table


def _queue(difference):
    kind, item = difference[0], difference[1]
    table = item.name if kind == "remove_table" else getattr(item, "table", None)
    name = table if isinstance(table, str) else getattr(table, "name", "")
    return kind in ("remove_table", "remove_index") and is_queue_table(name)


def test_migrations_match_the_tables_in_code(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    # The job queue's tables are procrastinate's, applied beside ours (store/queue_schema.py).
    ours = [d for d in diff if not _queue(d)]
    assert ours == []


def test_sqlite_pod_runs_in_wal_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with as_superuser(engine) as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_pod_without_schema_says_run_init(tmp_path):
    with pytest.raises(StorageError, match="healthpod init"):
        Pod.open(Settings(home=tmp_path))


def test_an_old_schema_says_run_db_upgrade(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'healthpod.db'}")
    migrate.upgrade(engine)
    with as_superuser(engine) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(StorageError, match="newer"):
        Pod.open(Settings(home=tmp_path))


def test_the_head_revision_named_in_code_is_the_newest_migration():
    # Start-up compares with HEAD_REVISION so that it need not import Alembic.
    assert migrate.head_revision() == migrate.HEAD_REVISION
