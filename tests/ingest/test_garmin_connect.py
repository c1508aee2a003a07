"""Garmin Connect's account export: daily summaries, sleep and the uploaded FIT files."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from healthpod.errors import MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.base import ErrorHandling, Quantity, Warning_, Workout
from healthpod.ingest.fit.fit_files import IMPORTER as FIT
from healthpod.ingest.run import import_path
from healthpod.ingest.vendors.garmin_connect import IMPORTER
from healthpod.pod import Pod

DATA = Path(__file__).parents[1] / "data"
DAYS = DATA / "garmin" / "UDSFile_2024-05-01_2024-08-09.json"
NIGHTS = DATA / "garmin" / "2024-05-01_2024-08-09_12345678_sleepData.json"
FIT_FILES = [DATA / "fit" / "Activity.fit", DATA / "fit" / "garmin-fenix-5-walk.fit"]


def read(path: Path, errors: ErrorHandling = ErrorHandling.RAISE) -> list[Any]:
    with path.open("rb") as fp:
        return list(IMPORTER.read(fp, filename=path.name, errors=errors))


def export_zip(tmp_path: Path, broken: bool = False) -> Path:
    inner = tmp_path / "UploadedFiles_0-_Part1.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        for fit in FIT_FILES:
            zf.write(fit, fit.name)
        if broken:
            zf.writestr("cut.fit", FIT_FILES[0].read_bytes()[:200])
    path = tmp_path / "garmin-export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(DAYS, f"DI_CONNECT/DI-Connect-Aggregator/{DAYS.name}")
        zf.write(NIGHTS, f"DI_CONNECT/DI-Connect-Wellness/{NIGHTS.name}")
        zf.write(inner, f"DI_CONNECT/DI-Connect-Uploaded-Files/{inner.name}")
    return path


def test_days_match_an_independent_reading() -> None:
    days = json.loads(DAYS.read_text())
    items = read(DAYS)

    def stored(code: str) -> list[float]:
        return [i.value for i in items if isinstance(i, Quantity) and i.type_code == code]

    assert stored("steps") == [d["totalSteps"] for d in days]
    assert stored("distance_walking_running") == [d["totalDistanceMeters"] / 1000 for d in days]
    assert stored("active_energy") == [d["activeKilocalories"] for d in days]
    assert stored("resting_heart_rate") == [
        d["restingHeartRate"] for d in days if d["restingHeartRate"]
    ]
    first = items[0]
    assert (first.start_offset_min, first.end_ms - first.start_ms) == (120, 86_400_000)


def test_nights_are_in_bed_spans() -> None:
    nights = read(NIGHTS)
    assert len(nights) == len(json.loads(NIGHTS.read_text()))
    assert nights[0].meta["deepSleepSeconds"] == 5400
    assert nights[0].end_ms - nights[0].start_ms == 450 * 60_000


def test_the_export_imports_file_by_file_and_fit_files_through_the_fit_importer(
    pod: Pod, tmp_path: Path
) -> None:
    reports = import_path(pod, export_zip(tmp_path), errors=ErrorHandling.RAISE)
    assert [r.format for r in reports] == ["garmin-connect"] * 3
    added: Counter[str] = Counter()
    for report in reports:
        added.update(report.added)
    fit_workouts = 0
    for fit in FIT_FILES:
        with fit.open("rb") as fp:
            fit_workouts += sum(isinstance(i, Workout) for i in FIT.read(fp, filename=fit.name))
    assert added["workout"] == fit_workouts > 0
    assert added["steps"] == 3 and added["sleep_analysis"] == 2
    again = import_path(pod, export_zip(tmp_path))
    assert sum(r.total_added for r in again) == 0


def test_a_damaged_fit_file_is_reported_and_the_others_imported(pod: Pod, tmp_path: Path) -> None:
    path = export_zip(tmp_path, broken=True)
    reports = import_path(pod, path)
    uploaded = next(r for r in reports if "UploadedFiles" in r.filename)
    assert uploaded.status == "completed"
    assert [w.location for w in uploaded.warnings if "not imported" in w.message] == ["cut.fit"]
    assert uploaded.added["workout"] > 0


def test_detection_by_content() -> None:
    assert registry.detect(DAYS.read_bytes()[:65536], "x.json").format == "garmin-connect"
    assert registry.detect(NIGHTS.read_bytes()[:65536], "x.json").format == "garmin-connect"


def test_a_day_without_times_is_skipped_or_refused(tmp_path: Path) -> None:
    days = json.loads(DAYS.read_text())
    del days[1]["wellnessStartTimeGmt"]
    path = tmp_path / "UDSFile_x.json"
    path.write_text(json.dumps(days))
    warnings = [w for w in read(path, ErrorHandling.WARN) if isinstance(w, Warning_)]
    assert [w.location for w in warnings] == ["entry 1"]
    with pytest.raises(MalformedFile, match="entry 1: wellnessStartTimeGmt is missing"):
        read(path)


def test_an_inner_zip_with_path_traversal_is_refused(pod: Pod, tmp_path: Path) -> None:
    inner = tmp_path / "UploadedFiles_0-_Part1.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.write(FIT_FILES[0], "../../evil.fit")
    with pytest.raises(MalformedFile, match="points outside the archive"):
        read(inner)
