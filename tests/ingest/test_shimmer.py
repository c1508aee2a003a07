"""Vendor API payloads (Withings, iHealth, Google Fit, Fitbit) from Open mHealth Shimmer's tests."""

from __future__ import annotations

import contextlib
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
from healthpod.ingest.base import (
    CategoryValue,
    Correlation,
    ErrorHandling,
    Quantity,
    Warning_,
    Workout,
)
from healthpod.ingest.vendors.api_payloads import IMPORTER
from healthpod.store import schema

DATA = Path(__file__).parent.parent / "data" / "shimmer"
FILES = sorted(DATA.glob("*/*.json"))


def read(relative: str, errors: ErrorHandling = ErrorHandling.RAISE) -> list:
    with (DATA / relative).open("rb") as fp:
        return list(IMPORTER.read(fp, filename=relative, errors=errors))


def raw(relative: str):
    return json.loads((DATA / relative).read_text())


def counts(items: list) -> dict[str, int]:
    return dict(
        Counter(
            i.type_code if isinstance(i, Quantity | CategoryValue | Correlation) else "workout"
            for i in items
            if not isinstance(i, Warning_)
        )
    )


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_payload_is_detected_by_content(path):
    head = path.read_bytes()[:65536]
    assert registry.detect(head, "payload.json").format == "vendor-api"
    assert registry.detect(head, path.name).format == "vendor-api"


def test_withings_body_measures():
    items = read("withings/withings-body-measures.json")
    # Independent count: the real (category 1) groups and their known measure types.
    groups = raw("withings/withings-body-measures.json")["body"]["measuregrps"]
    kinds = Counter(m["type"] for g in groups if g["category"] == 1 for m in g["measures"])
    assert counts(items) == {
        "blood_pressure": 1,  # one group holds both 9 and 10
        "heart_rate": kinds[11],
        "body_mass": kinds[1],
        "body_height": kinds[4],
        "body_temperature": kinds[71],
    }
    (pressure,) = [i for i in items if isinstance(i, Correlation)]
    assert {s.type_code: s.value for s in pressure.samples} == {
        "blood_pressure_systolic": 104,
        "blood_pressure_diastolic": 68,
    }
    assert pressure.start_ms == 1433052383000
    assert pressure.start_offset_min == -420  # America/Los_Angeles on 2015-05-31 (PDT)
    weights = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_mass"]
    assert [w.value for w in weights] == pytest.approx([74.126, 74.128])
    (height,) = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_height"]
    assert height.value == pytest.approx(193.0)
    assert height.start_offset_min == -480  # February: PST
    assert {i.source.name for i in items if not isinstance(i, Warning_)} == {"Withings"}
    assert any("18" in i.message for i in items if isinstance(i, Warning_))


def test_withings_goal_only_gives_nothing_but_a_warning():
    items = read("withings/withings-body-measures-only-goal.json")
    assert counts(items) == {}
    assert [i.message for i in items] == ["1 measure group(s) are goals, not measurements"]


def test_withings_daily_activity_is_one_local_day():
    items = read("withings/withings-activity-measures.json")
    steps = [i for i in items if isinstance(i, Quantity) and i.type_code == "steps"]
    days = raw("withings/withings-activity-measures.json")["body"]["activities"]
    assert [s.value for s in steps] == [d["steps"] for d in days]
    first = steps[0]
    assert first.start_ms == epoch_ms("2015-06-18T00:00:00-07:00")
    assert first.end_ms == epoch_ms("2015-06-19T00:00:00-07:00")
    assert first.start_offset_min == -420
    exercise = [i for i in items if isinstance(i, Quantity) and i.type_code == "exercise_time"]
    assert [e.value for e in exercise] == [(d["moderate"] + d["intense"]) / 60 for d in days]


def test_withings_intraday_and_sleep():
    items = read("withings/withings-intraday-activity.json", ErrorHandling.WARN)
    series = raw("withings/withings-intraday-activity.json")["body"]["series"]
    steps = [i for i in items if isinstance(i, Quantity) and i.type_code == "steps"]
    assert sum(s.value for s in steps) == sum(e.get("steps", 0) for e in series.values())
    assert [i.message for i in items if isinstance(i, Warning_)] == [
        "the payload names no time zone; times are stored with offset +00:00 "
        "(give your time zone with --tz or `healthpod settings set timezone`)"
    ]
    sleep = read("withings/withings-sleep-measures.json", ErrorHandling.WARN)
    stages = [i.value_code for i in sleep if isinstance(i, CategoryValue)]
    assert stages == [
        "HKCategoryValueSleepAnalysisAwake",
        "HKCategoryValueSleepAnalysisAsleepCore",
        "HKCategoryValueSleepAnalysisAsleepREM",
    ]
    summary = read("withings/withings-sleep-summary.json")
    assert [i.start_offset_min for i in summary] == [60, 60]  # Europe/London in September


def test_ihealth_local_epoch_seconds_and_units():
    items = read("ihealth/ihealth-bp.json")
    first = next(i for i in items if isinstance(i, Correlation))
    # MDate 1442491463 is the wall clock 2015-09-17 12:04:23 at -08:00
    assert first.start_ms == epoch_ms("2015-09-17T12:04:23-08:00")
    assert first.start_offset_min == -480
    assert {s.type_code: s.value for s in first.samples} == {
        "blood_pressure_systolic": 120,
        "blood_pressure_diastolic": 90,
    }
    assert counts(items) == {"blood_pressure": 2, "heart_rate": 2}
    glucose = read("ihealth/ihealth-glucose.json")
    assert [g.value for g in glucose] == pytest.approx([60 * 10 / 180.15588, 70 * 10 / 180.15588])
    assert glucose[0].meta["meal"] == "Before_breakfast"
    sport = read("ihealth/ihealth-sport.json")
    assert [w.start_offset_min for w in sport] == [-480, 60]  # TimeZone as whole hours
    assert [w.activity_type for w in sport] == ["Swimming, breaststroke", "Running"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ihealth-activity.json", {"steps": 2, "distance_walking_running": 1}),
        ("ihealth-activity-no-steps.json", {}),
        ("ihealth-bp-no-heart-rate.json", {"blood_pressure": 1}),
        ("ihealth-sleep.json", {"sleep_analysis": 3}),
        ("ihealth-spo2.json", {"oxygen_saturation": 2, "heart_rate": 2}),
        ("ihealth-spo2-no-heart-rate.json", {"oxygen_saturation": 1}),
        ("ihealth-spo2-no-oxygen-saturation.json", {}),
        ("ihealth-weight-no-weight-value.json", {}),
        (
            "ihealth-weight.json",
            {
                "body_mass": 2,
                "body_mass_index": 2,
                "body_fat_percentage": 1,
                "ihealth:water_percentage": 1,
            },
        ),
    ],
)
def test_ihealth_counts(name, expected):
    assert counts(read(f"ihealth/{name}")) == expected


@pytest.mark.parametrize("path", sorted(DATA.glob("*/*empty*.json")), ids=lambda p: p.name)
def test_empty_payloads_give_no_samples(path):
    assert counts(read(f"{path.parent.name}/{path.name}")) == {}


def test_google_fit_nanosecond_strings_and_origins():
    items = read("googlefit/googlefit-merge-step-deltas.json")
    points = raw("googlefit/googlefit-merge-step-deltas.json")["point"]
    steps = [i for i in items if isinstance(i, Quantity)]
    nonzero = [p for p in points if p["value"][0]["intVal"]]
    assert [s.value for s in steps] == [p["value"][0]["intVal"] for p in nonzero]
    assert steps[0].start_ms == int(nonzero[0]["startTimeNanos"]) // 1_000_000
    assert steps[0].meta == {"origin": nonzero[0]["originDataSourceId"]}
    height = read("googlefit/googlefit-merge-height.json")
    assert [h.value for h in height if isinstance(h, Quantity)] == pytest.approx(
        [182.8799, 182.88], abs=1e-3
    )
    energy = counts(read("googlefit/googlefit-merge-calories-expended.json"))
    assert energy == {"active_energy": 2, "basal_energy": 1}
    sleep = read("googlefit/googlefit-merge-activity-segments-only-sleep.json")
    assert counts(sleep) == {"sleep_analysis": 1}
    assert counts(read("googlefit/googlefit-merge-activity-segments.json")) == {"workout": 3}
    locations = read("googlefit/googlefit-merge-location-samples.json", ErrorHandling.WARN)
    assert counts(locations) == {}


def test_fitbit_api_payloads():
    heart = read("fitbit/fitbit-activities-heart-1d-1m-intraday.json")
    assert [h.value for h in heart if isinstance(h, Quantity)] == [64, 63, 64, 65, 65]
    assert heart[1].start_ms == epoch_ms("2015-08-21T00:01:00+00:00")
    steps = read("fitbit/fitbit-activities-steps-1d-1m-intraday.json")
    # The minutes, not also the day's total 3212 (that would count the day twice).
    assert [s.value for s in steps if isinstance(s, Quantity)] == [7, 52]
    series = read("fitbit/fitbit-activities-steps-timeseries.json")
    assert [s.value for s in series if isinstance(s, Quantity)] == [175, 2937]
    weight = read("fitbit/fitbit-body-log-weight.json")
    assert [w.value for w in weight if isinstance(w, Quantity) and w.type_code == "body_mass"] == [
        56.7,
        55.9,
        58.1,
        57.2,
    ]
    sleep = read("fitbit/fitbit-sleep-date.json")
    logs = raw("fitbit/fitbit-sleep-date.json")["sleep"]
    assert counts(sleep) == {"sleep_analysis": sum(1 + len(s["levels"]["data"]) for s in logs)}
    activities = read("fitbit/fitbit-activities-date-multiple-in-activities-list.json")
    assert len([a for a in activities if isinstance(a, Workout)]) == 3


def test_truncated_json_names_line_and_column():
    data = (DATA / "withings" / "withings-body-measures.json").read_bytes()[:500]
    with pytest.raises(MalformedFile) as caught:
        list(IMPORTER.read(io.BytesIO(data), filename="w.json", errors=ErrorHandling.RAISE))
    assert caught.value.location and caught.value.location.startswith("line ")
    assert caught.value.source == "w.json"


def test_unknown_json_and_error_status_are_refused():
    with pytest.raises(MalformedFile, match="no vendor"):
        list(IMPORTER.read(io.BytesIO(b'{"hello": 1}'), filename="x.json"))
    with pytest.raises(MalformedFile, match="status 2554"):
        list(IMPORTER.read(io.BytesIO(b'{"status": 2554, "body": {"series": []}}'), filename="e"))


def test_a_bad_entry_is_skipped_with_a_warning_or_refused():
    payload = raw("ihealth/ihealth-bp.json")
    payload["BPDataList"][0]["MDate"] = "yesterday"
    data = json.dumps(payload).encode()
    items = list(IMPORTER.read(io.BytesIO(data), filename="bp.json", errors=ErrorHandling.WARN))
    assert [(w.location, w.message) for w in items if isinstance(w, Warning_)] == [
        ("BPDataList[0]", "MDate is missing; skipped")
    ]
    with pytest.raises(MalformedFile, match=r"BPDataList\[0\]"):
        list(IMPORTER.read(io.BytesIO(data), filename="bp.json", errors=ErrorHandling.RAISE))


@settings(max_examples=80, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "body",
                        "status",
                        "measuregrps",
                        "measures",
                        "BPDataList",
                        "MDate",
                        "TimeZone",
                        "point",
                        "dataSourceId",
                        "sleep",
                        "series",
                        "value",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_hostile_json_gives_only_ingest_errors(document):
    data = json.dumps(document).encode()
    for errors in ErrorHandling:
        with contextlib.suppress(IngestError):
            list(IMPORTER.read(io.BytesIO(data), filename="h.json", errors=errors))


def test_import_all_payloads_counts_and_second_import_adds_nothing(pod, tmp_path):
    from healthpod.ingest.run import import_file

    # Some payloads repeat another's entries (ihealth-bp and ihealth-bp-no-heart-rate): the
    # store keeps one sample per type, start and source.
    keys = set()
    for path in FILES:
        for item in read(f"{path.parent.name}/{path.name}", ErrorHandling.WARN):
            samples = item.samples if isinstance(item, Correlation) else (item,)
            keys |= {
                (s.type_code, s.start_ms, s.source) for s in samples if isinstance(s, Quantity)
            }
    expected_samples = len(keys)
    reports = [import_file(pod, path, errors=ErrorHandling.WARN) for path in FILES]
    assert {r.status for r in reports} == {"completed"}
    assert {r.format for r in reports} == {"vendor-api"}
    with as_superuser(pod.engine) as conn:
        stored = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
    assert stored == expected_samples
    again = [import_file(pod, path, errors=ErrorHandling.WARN) for path in FILES]
    assert sum(r.total_added for r in again) == 0


def test_source_names():
    found = {
        i.source.name
        for path in FILES
        for i in read(f"{path.parent.name}/{path.name}", ErrorHandling.WARN)
        if not isinstance(i, Warning_)
    }
    assert found == {"Withings", "iHealth", "Google Fit", "Fitbit"}
    assert datetime.now(UTC)  # keep UTC import honest for readers of epoch_ms


def test_deeply_nested_json_is_refused_not_a_crash():
    data = b'{"BPDataList": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MalformedFile, match="nested too deeply"):
        list(IMPORTER.read(io.BytesIO(data), filename="deep.json"))


def test_a_payload_over_the_size_limit_is_refused():
    from healthpod.ingest.vendors.common import load_json

    with pytest.raises(MalformedFile, match="larger than 1 MB") as caught:
        load_json(io.BytesIO(b" " * (1024 * 1024 + 10)), "big.json", max_bytes=1024 * 1024)
    assert caught.value.location == "byte 1048576"
