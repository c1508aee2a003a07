"""All or nothing: the two-process reader, and a real `healthpod import` killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select, text
from tests.conftest import as_superuser

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import schema

sys.path.insert(0, str(Path(__file__).parent))
from apple_builder import export_xml

APPLE = Path(__file__).parents[1] / "data" / "apple"


def counts(pod: Pod) -> dict[str, int]:
    with as_superuser(pod.engine) as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table))
            for table in schema.metadata.sorted_tables
            # Bookkeeping of each import (its row, its summaries done), not stored data.
            if table.name not in ("imports", "summarized_imports", "persons")
        }


@pytest.mark.parametrize("name", ["handmade", "healthkit-to-sqlite", "apple-health-parser"])
def test_the_two_process_reader_stores_what_the_inline_reader_stores(pod, tmp_path, name):
    path = APPLE / name / ("export.zip" if name == "apple-health-parser" else "export.xml")
    parallel = import_file(pod, path, errors=ErrorHandling.RAISE, parallel=True)
    stored = counts(pod)
    inline = import_file(pod, path, errors=ErrorHandling.RAISE, parallel=False)
    assert inline.added == {}
    assert inline.already_present == parallel.total_added
    assert counts(pod) == stored
    assert parallel.unknown_types == inline.unknown_types


def test_an_error_in_the_reader_process_reaches_the_caller_and_stores_nothing(pod, tmp_path):
    import_file(pod, APPLE / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE)
    before = counts(pod)
    path = tmp_path / "export.xml"
    data = export_xml(5000)
    cut = data[: len(data) * 3 // 4]
    path.write_bytes(cut)
    last_line = cut.count(b"\n") + 1
    with pytest.raises(MalformedFile, match=rf"export\.xml, line {last_line}: .*cut short"):
        import_file(pod, path, parallel=True)
    assert counts(pod) == before


def _writing(pod: Pod) -> bool:
    """True once another process holds an open write transaction on the store."""
    if pod.engine.dialect.name == "sqlite":
        probe = sqlite3.connect(str(pod.engine.url.database), timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True  # "database is locked": the import's transaction is open
        finally:
            probe.close()
        return False
    with as_superuser(pod.engine) as conn:
        return bool(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND query ILIKE 'INSERT INTO%'"
                )
            )
        )


@pytest.mark.slow
def test_sigkill_part_way_leaves_the_store_as_before_and_the_next_import_completes(
    pod, settings, tmp_path
):
    import_file(pod, APPLE / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE)
    before = counts(pod)
    path = tmp_path / "export.xml"
    # Over 16 MB, so a reader process parses while the parent writes; large enough that a fast
    # machine is still writing when the kill comes (100 000 once finished first in CI).
    n = 300_000 if pod.engine.dialect.name == "sqlite" else 200_000
    path.write_bytes(export_xml(n))
    command = [
        sys.executable,
        "-m",
        "healthpod",
        "--home",
        str(settings.home),
        "--database-url",
        str(settings.database_url),
        "import",
        str(path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (_writing(pod) and psutil.Process(process.pid).children()):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.05)
    time.sleep(0.5)  # some batches are written by now
    readers = psutil.Process(process.pid).children(recursive=True)
    assert process.poll() is None, "the import finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    psutil.wait_procs(readers, timeout=30)  # the reader process notices and exits
    assert not [r for r in readers if r.is_running() and r.status() != psutil.STATUS_ZOMBIE]

    pod.engine.dispose()
    reopened = Pod.open(settings)  # the schema check passes: the store opens cleanly
    if reopened.engine.dialect.name == "sqlite":
        with as_superuser(reopened.engine) as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    after = counts(reopened)
    assert after["quantity_samples"] != before["quantity_samples"] + n, "killed too late"
    assert after == before
    with as_superuser(reopened.engine) as conn:
        statuses = conn.scalars(select(schema.imports.c.status)).all()
    assert statuses == ["completed"]  # the killed import left no row at all

    report = import_file(reopened, path)
    assert report.total_added == n
    assert counts(reopened)["quantity_samples"] == before["quantity_samples"] + n
    reopened.close()
