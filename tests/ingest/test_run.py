"""The import pipeline: detection, one transaction per file, de-duplication, reports."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import UnsupportedFormat
from healthpod.ingest import registry
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file, import_path
from healthpod.store import schema

APPLE = Path(__file__).parents[1] / "data" / "apple"


def count(pod, table) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))


def test_detect_sniffs_content_not_the_name(tmp_path):
    head = (APPLE / "ahcd-go" / "export.xml").read_bytes()[:4096]
    assert registry.detect(head, "whatever.bin").format == "apple-health"
    with pytest.raises(UnsupportedFormat, match=r"notes\.xml: .*another kind"):
        registry.detect(b"<?xml version='1.0'?><notes/>", "notes.xml")
    with pytest.raises(UnsupportedFormat, match="binary data"):
        registry.detect(bytes(range(256)) * 4, "export.xml")


def test_import_reports_per_type_and_second_import_adds_nothing(pod):
    first = import_file(pod, APPLE / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE)
    assert first.status == "completed"
    assert first.format == "apple-health"
    assert first.to_json()["added"] == {
        "blood_pressure": 1,
        "blood_pressure_diastolic": 1,
        "blood_pressure_systolic": 7,
        "body_mass_index": 2,
        "heart_rate": 1,
    }
    second = import_file(pod, APPLE / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE)
    assert second.added == {}
    assert second.already_present == first.total_added
    assert count(pod, schema.quantity_samples) == 11
    with as_superuser(pod.engine) as conn:
        statuses = conn.execute(select(schema.imports.c.status)).scalars().all()
    assert statuses == ["completed", "completed"]


def test_zip_of_several_files_imports_each_and_reports_each(pod, tmp_path):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(APPLE / "ahcd-go" / "export.xml", "a/export.xml")
        zf.writestr("b/notes.txt", "not health data")
        zf.writestr("__MACOSX/a/._export.xml", b"\x00\x05\x16\x07junk")
    reports = import_path(pod, archive, errors=ErrorHandling.RAISE)
    # the zip holds export.xml, so Apple Health claims the whole archive
    assert [r.format for r in reports] == ["apple-health"]

    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.write(APPLE / "ahcd-go" / "export.xml", "first.xml")
        zf.write(APPLE / "apple-health-parser" / "export.xml", "second.xml")
        zf.writestr("notes.txt", "not health data")
    reports = import_path(pod, other, errors=ErrorHandling.RAISE)
    assert [(r.filename, r.status) for r in reports] == [
        ("other.zip:first.xml", "completed"),
        ("other.zip:second.xml", "completed"),
        ("other.zip:notes.txt", "skipped"),
    ]
    assert "cannot import" in (reports[2].error or "")
    assert reports[0].already_present == 12  # first.xml came in with bundle.zip already


def test_directory_imports_each_file(pod, tmp_path):
    reports = import_path(pod, APPLE / "apple-health-parser", errors=ErrorHandling.RAISE)
    assert [(r.filename, r.status) for r in reports] == [
        ("export.xml", "completed"),
        ("export.zip", "completed"),
    ]
    assert reports[0].total_added == 8
    assert reports[1].total_added == 0
    assert reports[1].already_present == 8


def test_an_import_leaves_the_daily_statistics_up_to_date(pod):
    report = import_file(pod, APPLE / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        summarized = set(conn.scalars(select(schema.summarized_imports.c.import_id)))
        days = conn.scalar(select(func.count()).select_from(schema.daily_summaries))
    assert report.import_id in summarized
    assert days > 0
