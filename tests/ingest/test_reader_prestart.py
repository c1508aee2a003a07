"""A reader process started ahead of the import: taken by the next import, or ended unused."""

from __future__ import annotations

from pathlib import Path

from healthpod.ingest import reader_process
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file

APPLE = Path(__file__).parents[1] / "data" / "apple" / "handmade" / "export.xml"


def test_the_next_import_takes_the_prestarted_reader(pod):
    reader_process.prestart()
    spare = reader_process._spare
    assert spare is not None
    report = import_file(pod, APPLE, errors=ErrorHandling.RAISE, parallel=True)
    assert report.status == "completed" and report.total_added > 0
    assert reader_process._spare is None
    assert spare.returncode is not None  # it read the file and was waited for


def test_an_unused_reader_ends_quietly(capfd):
    reader_process.prestart()
    spare = reader_process._spare
    assert spare is not None
    reader_process.discard_spare()
    assert reader_process._spare is None
    assert spare.returncode is not None
    assert "Traceback" not in capfd.readouterr().err


def test_a_reader_whose_stdin_closes_exits_without_a_traceback(capfd):
    child = reader_process._spawn()
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    assert child.stdout.read() == b""
    child.stdout.close()
    assert "Traceback" not in capfd.readouterr().err
