"""The Fitbit account export, on the fitbit-to-sqlite excerpts of a real export."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import IngestError, MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.base import CategoryValue, ErrorHandling, Quantity, Warning_, Workout
from healthpod.ingest.vendors.fitbit_export import IMPORTER, kind_of, weight_log
from healthpod.store import schema

DATA = Path(__file__).parent.parent / "data" / "fitbit"
FILES = sorted([*DATA.glob("*.json"), *DATA.glob("*.csv")])


def read(name: str, errors: ErrorHandling = ErrorHandling.RAISE) -> list:
    with (DATA / name).open("rb") as fp:
        return list(IMPORTER.read(fp, filename=name, errors=errors))


def samples(items: list, type_code: str | None = None) -> list:
    return [
        i
        for i in items
        if isinstance(i, Quantity | CategoryValue) and type_code in (None, i.type_code)
    ]


def wall(text: str) -> int:
    """Epoch ms of a Fitbit wall-clock time stored at offset 0."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_export_file_is_detected(path):
    assert registry.detect(path.read_bytes()[:65536], path.name).format == "fitbit"


def test_kind_comes_from_the_name_without_its_date():
    assert kind_of("Physical Activity/heart_rate-2018-01-01.json") == "heart_rate"
    assert kind_of("sleep-2018-02-01.json") == "sleep"
    assert kind_of("exercise-100.json") == "exercise"
    assert kind_of("steps.json") == "steps"


def test_distance_is_centimetres_per_minute():
    items = read("distance.json")
    raw = json.loads((DATA / "distance.json").read_text())
    distance = samples(items, "distance_walking_running")
    nonzero = [e for e in raw if float(e["value"])]
    assert [d.value for d in distance] == pytest.approx([float(e["value"]) / 1e5 for e in nonzero])
    assert distance[0].start_ms == wall("2017-12-31T16:42:00")
    assert distance[0].end_ms - distance[0].start_ms == 60_000
    assert [w.message for w in items if isinstance(w, Warning_)] == [
        "Fitbit writes times without a zone; they are stored with offset +00:00 "
        "(give your time zone with --tz or `healthpod settings set timezone`)"
    ]
    assert {d.source.name for d in distance} == {"Fitbit"}


def test_resting_heart_rate_two_digit_years():
    items = samples(read("resting_heart_rate.json"))
    assert [(i.type_code, i.start_ms) for i in items] == [
        ("resting_heart_rate", wall("2018-12-30T00:00:00")),
        ("resting_heart_rate", wall("2018-12-31T00:00:00")),
    ]
    assert items[0].value == pytest.approx(59.420772552490234)
    assert items[0].meta == {"error": pytest.approx(6.787134170532227)}


def test_sleep_logs_are_in_bed_spans_with_their_summary():
    items = samples(read("sleep.json"))
    logs = json.loads((DATA / "sleep.json").read_text())
    assert len(items) == len(logs)
    first = items[0]
    assert first.value_code == "HKCategoryValueSleepAnalysisInBed"
    assert first.start_ms == wall("2018-02-01T22:36:00")
    assert first.end_ms == wall("2018-02-02T06:42:00")
    assert first.end_ms - first.start_ms == logs[0]["duration"]
    assert first.meta["summary"]["deep"]["minutes"] == 137
    assert first.meta["minutes_asleep"] == 452


def test_exercise_logs_become_workouts():
    workouts = [w for w in read("exercise.json") if isinstance(w, Workout)]
    logs = json.loads((DATA / "exercise.json").read_text())
    assert [w.activity_type for w in workouts] == [e["activityName"].lower() for e in logs]
    assert [w.energy_kcal for w in workouts] == [e["calories"] for e in logs]
    assert [w.duration_s for w in workouts] == [e["activeDuration"] / 1000 for e in logs]
    run = workouts[2]
    assert run.distance_km == pytest.approx(2.087447 * 1.609344)  # distanceUnit "Mile"
    assert run.device == "Fitbit Charge 2"
    assert run.start_ms == wall("2018-01-03T18:25:35")


def test_daily_minutes_and_zones_keep_fitbit_names():
    items = samples(read("very_active_minutes.json"))
    assert [(i.type_code, i.value, i.known) for i in items] == [
        ("fitbit:very_active_minutes", 33, False),
        ("fitbit:very_active_minutes", 59, False),
        ("fitbit:very_active_minutes", 42, False),
    ]
    zones = Counter(i.type_code for i in samples(read("heart_rate_zones.json")))
    assert zones["fitbit:minutes_in_default_zone_1"] == 2


def test_sleep_scores_are_utc():
    items = samples(read("sleep_score.csv"))
    with (DATA / "sleep_score.csv").open() as fp:
        rows = list(csv.DictReader(fp))
    assert [i.value for i in items] == [float(r["overall_score"]) for r in rows]
    assert items[0].start_ms == int(datetime(2019, 8, 29, 6, 30, 30, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("entry", "kg"),
    [
        ({"weight": 180.4, "bmi": 25.5, "date": "01/01/20", "time": "07:00:00"}, 81.8281),
        ({"weight": 56.7, "bmi": 21.48, "date": "2015-05-13", "time": "18:28:59"}, 56.7),
        ({"weight": 154.0, "date": "01/02/20"}, 69.8532),
    ],
)
def test_weight_is_pounds_unless_the_bmi_says_kilograms(entry, kg):
    (weight, *_) = weight_log(entry, "entry 0")
    assert weight.value == pytest.approx(kg, abs=1e-3)


def test_heart_rate_export_shape():
    data = json.dumps(
        [
            {"dateTime": "01/01/18 00:00:07", "value": {"bpm": 63, "confidence": 2}},
            {"dateTime": "01/01/18 00:00:12", "value": {"bpm": 65, "confidence": 3}},
        ]
    ).encode()
    items = list(IMPORTER.read(io.BytesIO(data), filename="heart_rate-2018-01-01.json"))
    assert [(i.start_ms, i.value) for i in samples(items)] == [
        (wall("2018-01-01T00:00:07"), 63),
        (wall("2018-01-01T00:00:12"), 65),
    ]


def test_bad_entries_name_their_index():
    data = b'[{"dateTime": "12/31/17 16:42:00", "value": "10"}, {"dateTime": "soon", "value": "1"}]'
    with pytest.raises(MalformedFile, match="entry 1") as caught:
        list(IMPORTER.read(io.BytesIO(data), filename="steps.json", errors=ErrorHandling.RAISE))
    assert caught.value.source == "steps.json"
    items = list(IMPORTER.read(io.BytesIO(data), filename="steps.json", errors=ErrorHandling.WARN))
    assert len(samples(items)) == 1
    assert any(w.location == "entry 1" for w in items if isinstance(w, Warning_))


def test_cut_short_json_and_unknown_kinds_are_refused():
    data = (DATA / "exercise.json").read_bytes()[:700]
    with pytest.raises(MalformedFile, match="not valid JSON"):
        list(IMPORTER.read(io.BytesIO(data), filename="exercise.json"))
    with pytest.raises(MalformedFile, match="not supported"):
        list(IMPORTER.read(io.BytesIO(b"[]"), filename="swim_lengths_data.json"))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=512), st.sampled_from(["steps.json", "sleep.json", "weight.json"]))
def test_garbage_raises_only_ingest_errors(data, name):
    with contextlib.suppress(IngestError):
        list(IMPORTER.read(io.BytesIO(b"[" + data), filename=name, errors=ErrorHandling.RAISE))


def test_import_the_export_folder_counts_and_second_import_adds_nothing(pod, tmp_path):
    from healthpod.ingest.run import import_file

    expected = Counter()
    for path in FILES:
        for item in read(path.name):
            if isinstance(item, Quantity | CategoryValue):
                expected[item.type_code] += 1
            elif isinstance(item, Workout):
                expected["workout"] += 1
    reports = [import_file(pod, path, errors=ErrorHandling.RAISE) for path in FILES]
    added = Counter()
    for report in reports:
        added.update(report.added)
    assert added == expected
    with as_superuser(pod.engine) as conn:
        stored = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
    assert stored == sum(
        n for code, n in expected.items() if code not in ("sleep_analysis", "workout")
    )
    again = [import_file(pod, path, errors=ErrorHandling.RAISE) for path in FILES]
    assert sum(r.total_added for r in again) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
        b'[{"dateTime": "01/01/18 00:00:00", "value": '
        + b'{"a":' * 50_000
        + b"1"
        + b"}" * 50_000
        + b"}]",
    ],
    ids=["arrays", "objects"],
)
def test_deep_nesting_is_refused_before_it_eats_memory(data):
    with pytest.raises(MalformedFile, match="nested more than 16 levels") as caught:
        list(IMPORTER.read(io.BytesIO(data), filename="steps.json"))
    assert caught.value.location == "entry 0"


def test_a_json_object_is_not_an_export_file():
    with pytest.raises(MalformedFile, match="holds a JSON array"):
        list(IMPORTER.read(io.BytesIO(b'{"steps": 1}'), filename="steps.json"))


def test_an_export_zip_imports_each_file_and_reports_each(pod, tmp_path):
    import zipfile

    from healthpod.ingest.run import import_path

    archive = tmp_path / "MyFitbitData.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in FILES:
            dated = path.name.replace(".json", "-2018-01-01.json")
            zf.write(path, f"Takeout/Fitbit/Global Export Data/{dated}")
        zf.writestr("Takeout/Fitbit/Your Profile/Profile.txt", "not health data")
    reports = import_path(pod, archive, errors=ErrorHandling.RAISE)
    by_status = Counter(r.status for r in reports)
    assert by_status == {"completed": len(FILES), "skipped": 1}  # Profile.txt: not health data
    assert {r.format for r in reports if r.status == "completed"} == {"fitbit"}
    assert sum(r.total_added for r in reports) == sum(
        1 for path in FILES for i in read(path.name) if not isinstance(i, Warning_)
    )
