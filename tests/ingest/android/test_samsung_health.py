"""Samsung Health's personal data download: a folder of CSVs with a metadata line each."""

from __future__ import annotations

import csv
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.android.samsung_health import IMPORTER
from healthpod.ingest.base import CategoryValue, Correlation, ErrorHandling, Quantity, Warning_
from healthpod.ingest.run import import_path
from healthpod.pod import Pod
from healthpod.store import schema

FOLDER = Path(__file__).parents[2] / "data" / "samsung" / "samsunghealth_anna_20240601120000"
STEPS = FOLDER / "com.samsung.shealth.tracker.pedometer_step_count.20240601120000.csv"
HEART = FOLDER / "com.samsung.shealth.tracker.heart_rate.20240601120000.csv"


def plain_rows(path: Path) -> list[dict[str, str]]:
    """The file read independently: skip the metadata line, take the header as it is."""
    with path.open(encoding="utf-8-sig", newline="") as fp:
        fp.readline()
        return list(csv.DictReader(fp))


def read(path: Path, errors: ErrorHandling = ErrorHandling.RAISE) -> list[Any]:
    with path.open("rb") as fp:
        return list(IMPORTER.read(fp, filename=path.name, errors=errors))


def test_every_file_is_detected_by_content() -> None:
    for path in FOLDER.glob("*.csv"):
        assert registry.detect(path.read_bytes()[:65536], "x.csv").format == "samsung-health"


def test_counts_and_values_match_an_independent_reading() -> None:
    steps = plain_rows(STEPS)
    items = read(STEPS)
    counted = [i.value for i in items if i.type_code == "steps"]
    assert counted == [float(r["com.samsung.health.step_count.count"]) for r in steps]
    distances = [i.value for i in items if i.type_code == "distance_walking_running"]
    assert distances == [
        pytest.approx(float(r["com.samsung.health.step_count.distance"]) / 1000) for r in steps
    ]
    beats = plain_rows(HEART)
    rates = [i for i in read(HEART) if isinstance(i, Quantity)]
    assert [r.value for r in rates] == [
        float(r["com.samsung.health.heart_rate.heart_rate"]) for r in beats
    ]
    assert {(r.start_offset_min, r.source.name) for r in rates} == {(120, "Samsung Health")}
    assert rates[0].start_ms == 1714798800000  # 2024-05-04 05:00:00 UTC, as written


def test_the_folder_imports_file_by_file_and_twice_adds_nothing(pod: Pod) -> None:
    reports = import_path(pod, FOLDER, errors=ErrorHandling.RAISE)
    added: Counter[str] = Counter()
    for report in reports:
        assert (report.status, report.format) == ("completed", "samsung-health")
        added.update(report.added)
    assert added == {
        "steps": 12,
        "distance_walking_running": 12,
        "heart_rate": 10,
        "body_mass": 3,
        "body_fat_percentage": 3,
        "samsung:skeletal_muscle_mass": 3,
        "blood_pressure": 2,
        "blood_pressure_systolic": 2,
        "blood_pressure_diastolic": 2,
        "sleep_analysis": 4,
    }
    stress = next(r for r in reports if "stress" in r.filename)
    assert "is not imported yet" in stress.warnings[0].message
    again = import_path(pod, FOLDER)
    assert sum(r.total_added for r in again) == 0


def test_a_zip_of_the_folder_imports_the_same(pod: Pod, tmp_path: Path) -> None:
    path = tmp_path / "samsunghealth.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in FOLDER.glob("*.csv"):
            zf.write(file, f"{FOLDER.name}/{file.name}")
    reports = import_path(pod, path)
    assert sum(r.added.get("heart_rate", 0) for r in reports) == 10
    with as_superuser(pod.engine) as conn:
        sources = conn.scalars(select(schema.sources.c.name)).all()
    assert sources == ["Samsung Health"]


def test_blood_pressure_and_sleep() -> None:
    (first, _) = read(FOLDER / "com.samsung.shealth.blood_pressure.20240601120000.csv")
    assert isinstance(first, Correlation)
    assert [(s.type_code, s.value) for s in first.samples] == [
        ("blood_pressure_systolic", 121.0),
        ("blood_pressure_diastolic", 79.0),
    ]
    night = read(FOLDER / "com.samsung.shealth.sleep.20240601120000.csv")[:2]
    assert all(isinstance(n, CategoryValue) for n in night)
    assert night[1].end_ms - night[1].start_ms == (7 * 60 + 15) * 60_000


def lying(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(pod: Pod, path: Path, match: str) -> None:
    with pytest.raises(MalformedFile, match=match) as caught:
        import_path(pod, path)
    assert path.name in caught.value.message
    with as_superuser(pod.engine) as conn:
        stored = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
    assert stored == 0


def test_a_first_line_that_names_another_type_is_refused(pod: Pod, tmp_path: Path) -> None:
    text = STEPS.read_text().replace(
        "com.samsung.shealth.tracker.pedometer_step_count,", "com.samsung.health.weight,", 1
    )
    path = lying(tmp_path, STEPS.name, text)
    refused(pod, path, "line 1: the first line says the file holds com.samsung.health.weight")


def test_a_header_without_the_value_column_is_refused(pod: Pod, tmp_path: Path) -> None:
    text = HEART.read_text().replace("com.samsung.health.heart_rate.heart_rate\n", "bpm\n", 1)
    path = lying(tmp_path, HEART.name, text)
    refused(pod, path, "line 2: the header has no heart_rate column")


def test_rows_wider_than_the_header_are_refused(pod: Pod, tmp_path: Path) -> None:
    lines = HEART.read_text().splitlines()
    lines[5] = lines[5] + "99,100"
    path = lying(tmp_path, HEART.name, "\n".join(lines) + "\n")
    refused(pod, path, "line 6: the row holds 20 values but the header names 18 columns")


def test_a_bad_row_is_skipped_with_a_warning_or_refused(tmp_path: Path) -> None:
    lines = HEART.read_text().splitlines()
    lines[3] = lines[3].replace("2024-05-04 05:10:00.000", "yesterday", 1)
    path = lying(tmp_path, HEART.name, "\n".join(lines) + "\n")
    items = read(path, ErrorHandling.WARN)
    assert [w.location for w in items if isinstance(w, Warning_)] == ["line 4"]
    assert len([i for i in items if isinstance(i, Quantity)]) == 9
    with pytest.raises(MalformedFile, match=r"line 4: start_time 'yesterday' is not a time"):
        read(path)


def test_a_huge_line_is_refused(tmp_path: Path) -> None:
    path = lying(tmp_path, HEART.name, HEART.read_text() + "x" * 300_000 + "\n")
    with pytest.raises(MalformedFile, match="line 13: a line is longer than 256 KB"):
        read(path)
