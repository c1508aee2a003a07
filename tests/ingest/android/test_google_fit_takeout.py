"""Google Fit in Google Takeout: 15-minute daily metrics and session JSON."""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from healthpod.errors import MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.android.google_fit import IMPORTER
from healthpod.ingest.base import CategoryValue, ErrorHandling, Quantity, Warning_, Workout
from healthpod.ingest.run import import_path
from healthpod.pod import Pod

FIT = Path(__file__).parents[2] / "data" / "google-fit" / "Takeout" / "Fit"
DAY = FIT / "Daily activity metrics" / "2024-05-04.csv"
RUN = FIT / "All Sessions" / "2024-05-04T17_30_00+02_00_RUNNING.json"
SLEEP = FIT / "All Sessions" / "2024-05-03T23_10_00+02_00_SLEEP.json"


def read(
    path: Path, name: str | None = None, errors: ErrorHandling = ErrorHandling.RAISE
) -> list[Any]:
    with path.open("rb") as fp:
        return list(IMPORTER.read(fp, filename=name or path.name, errors=errors))


def test_each_file_is_detected_by_content() -> None:
    for path in FIT.rglob("*.*"):
        assert registry.detect(path.read_bytes()[:65536], path.name).format == "google-fit-takeout"


def test_a_day_matches_an_independent_reading() -> None:
    with DAY.open(newline="") as fp:
        rows = list(csv.DictReader(fp))
    items = read(DAY)

    def column(name: str) -> list[float]:
        return [float(r[name]) for r in rows if r[name] and float(r[name]) != 0]

    def stored(code: str) -> list[float]:
        return [i.value for i in items if isinstance(i, Quantity) and i.type_code == code]

    assert stored("steps") == column("Step count")
    assert stored("total_energy") == column("Calories (kcal)")
    assert stored("distance_walking_running") == [v / 1000 for v in column("Distance (m)")]
    assert stored("heart_rate") == column("Average heart rate (bpm)")
    assert stored("body_mass") == column("Average weight (kg)")
    first = next(i for i in items if i.type_code == "steps")
    assert first.start_ms == int(
        datetime.fromisoformat("2024-05-04T07:00:00+02:00").timestamp() * 1000
    )
    assert (first.start_offset_min, first.end_ms - first.start_ms) == (120, 15 * 60_000)
    last = [i for i in items if i.type_code == "total_energy"][-1]
    assert last.end_ms == int(
        datetime.fromisoformat("2024-05-05T00:00:00+02:00").timestamp() * 1000
    )


def test_the_daily_totals_file_is_passed_over() -> None:
    items = read(FIT / "Daily activity metrics" / "Daily activity metrics.csv")
    assert [type(i) for i in items] == [Warning_]
    assert "per-day files" in items[0].message


def test_a_run_and_a_night() -> None:
    (run,) = read(RUN)
    document = json.loads(RUN.read_text())
    assert isinstance(run, Workout)
    assert (run.activity_type, run.duration_s, run.start_offset_min) == ("running", 1920.0, 120)
    totals = {
        a["metricName"]: a.get("floatValue", a.get("intValue")) for a in document["aggregate"]
    }
    assert run.distance_km == totals["com.google.distance.delta"] / 1000
    assert run.energy_kcal == totals["com.google.calories.expended"]
    night = read(SLEEP)
    assert all(isinstance(n, CategoryValue) for n in night)
    assert len(night) == 1 + len(json.loads(SLEEP.read_text())["segment"])
    assert night[2].value_code == "HKCategoryValueSleepAnalysisAsleepDeep"


def test_the_takeout_folder_and_zip_import_once(pod: Pod, tmp_path: Path) -> None:
    path = tmp_path / "takeout.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for file in FIT.rglob("*.*"):
            zf.write(file, f"Takeout/Fit/{file.relative_to(FIT).as_posix()}")
    reports = import_path(pod, path, errors=ErrorHandling.RAISE)
    added: Counter[str] = Counter()
    for report in reports:
        assert report.status == "completed", report.error
        added.update(report.added)
    assert added["steps"] == 4 and added["workout"] == 1 and added["sleep_analysis"] == 6
    again = import_path(pod, FIT)
    assert sum(r.total_added for r in again) == 0


def test_a_day_file_under_another_name_is_refused(tmp_path: Path) -> None:
    renamed = tmp_path / "steps.csv"
    renamed.write_bytes(DAY.read_bytes())
    with pytest.raises(
        MalformedFile, match=r"steps\.csv: a file of 15-minute rows is named for its day"
    ):
        read(renamed)


def test_rows_wider_than_the_header_are_refused(tmp_path: Path) -> None:
    lines = DAY.read_text().splitlines()
    lines[30] += ",1,2,3"
    path = tmp_path / "2024-05-04.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        MalformedFile, match="line 31: the row holds 27 values but the header names 24"
    ):
        read(path)


def test_a_bad_time_is_skipped_with_a_warning(tmp_path: Path) -> None:
    lines = DAY.read_text().splitlines()
    lines[29] = lines[29].replace("07:00:00.000+02:00", "seven", 1)
    path = tmp_path / "2024-05-04.csv"
    path.write_text("\n".join(lines) + "\n")
    warnings = [w for w in read(path, errors=ErrorHandling.WARN) if isinstance(w, Warning_)]
    assert [w.location for w in warnings] == ["line 30"]


def test_a_session_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "fitnessActivity": "running",
                "startTime": "2024-05-04T18:00:00Z",
                "endTime": "2024-05-04T17:00:00Z",
            }
        )
    )
    with pytest.raises(MalformedFile, match="ends before it starts"):
        read(path)
