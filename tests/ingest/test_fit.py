"""FIT importer on real files: values against the CSV oracles, quirks, and broken files."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import statistics
import struct
from collections import Counter
from datetime import datetime
from pathlib import Path

import fitdecode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import IngestError, MalformedFile
from healthpod.ingest.base import ErrorHandling, Quantity, Warning_, Workout
from healthpod.ingest.fit.decode import SEMICIRCLE_DEG, decode
from healthpod.ingest.fit.device import product_name
from healthpod.ingest.fit.fit_files import IMPORTER
from healthpod.store import schema

FIT = Path(__file__).parent.parent / "data" / "fit"


def read(name: str, errors: ErrorHandling = ErrorHandling.RAISE) -> list:
    with (FIT / name).open("rb") as fp:
        return list(IMPORTER.read(fp, filename=name, errors=errors))


def quantities(items: list, type_code: str) -> dict[int, float]:
    return {
        i.start_ms: i.value for i in items if isinstance(i, Quantity) and i.type_code == type_code
    }


def messages(name: str, message_name: str) -> list[fitdecode.FitDataMessage]:
    """An independent read with fitdecode alone."""
    with fitdecode.FitReader(str(FIT / name)) as reader:
        return [
            frame
            for frame in reader
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == message_name
        ]


def oracle_ms(text: str) -> int:
    """ "Sun Sep 25 06:00:22 PDT 2011" (the oracle's zone names are PDT) → epoch ms."""
    stamp = datetime.strptime(text.replace("PDT", "-0700"), "%a %b %d %H:%M:%S %z %Y")
    return int(stamp.timestamp()) * 1000


@pytest.mark.parametrize(
    ("name", "speed_type", "factor", "cadence_type"),
    [
        pytest.param(
            "garmin-edge-500-activity",
            "cycling_speed",
            3.6,  # km/h
            "cycling_cadence",
            marks=pytest.mark.slow,
        ),
        ("garmin-fenix-5-walk", "walking_speed", 3.6, "fit:cadence"),
    ],
)
def test_record_values_equal_the_expected_csv(name, speed_type, factor, cadence_type):
    items = read(f"{name}.fit", ErrorHandling.WARN)
    heart, speed, cadence = (quantities(items, t) for t in ("heart_rate", speed_type, cadence_type))
    (workout,) = [i for i in items if isinstance(i, Workout)]
    points = workout.route["points"]
    with (FIT / f"{name}-records.csv").open() as fp:
        rows = list(csv.DictReader(fp))
    # Records without a GPS fix have no route point; the oracle repeats the last position there.
    no_fix = [
        m for m in messages(f"{name}.fit", "record") if not m.get_value("position_lat", fallback=0)
    ]
    assert len(points) == len(rows) - len(no_fix)
    first: dict[int, dict[str, str]] = {}
    remaining = iter(points)
    point = next(remaining)
    previous: dict[str, str] | None = None
    for row in rows:
        t = oracle_ms(row["timestamp"])
        first.setdefault(t, row)
        lat, lon = int(row["position_lat"]), int(row["position_long"])
        if (
            point is None
            or point["t_ms"] != t
            or point["lat"] != pytest.approx(lat * SEMICIRCLE_DEG, abs=1e-6)
        ):
            assert previous is not None
            assert (lat, lon) == (int(previous["position_lat"]), int(previous["position_long"]))
        else:
            assert point["lon"] == pytest.approx(lon * SEMICIRCLE_DEG, abs=1e-6)
            assert point["alt_m"] == pytest.approx(float(row["altitude"]), abs=0.01)
            assert point["distance_m"] == pytest.approx(float(row["distance"]), abs=0.01)
            point = next(remaining, None)
        previous = row
    assert point is None
    # Samples: one per second; where a device wrote two records in one second, the first.
    assert len(heart) == len(speed) == len(first)
    for t, row in first.items():
        assert heart[t] == float(row["heart_rate"])
        assert speed[t] == pytest.approx(float(row["speed"]) * factor, abs=1e-3)
        if t in cadence:
            assert cadence[t] == float(row["cadence"])


def test_compressed_timestamps_and_speed_equal_the_expected_csv():
    # The device clock was not set: times count seconds since it started, so they can be
    # checked but not stored.
    with (FIT / "compressed-speed-distance.fit").open("rb") as fp:
        (fit,) = decode(fp, filename="compressed-speed-distance.fit")
    records = {r.t: r for r in fit.unplaced_records if r.distance is not None}
    assert len(fit.unplaced_records) == len(records) + 1  # the first record holds no values
    with (FIT / "compressed-speed-distance-records.csv").open() as fp:
        rows = list(csv.reader(fp))[1:]
    assert len(records) == len(rows)
    for stamp, heart, speed, distance, cadence in rows:
        record = records[int(stamp)]
        assert record.heart_rate == float(heart)
        assert record.speed == pytest.approx(float(speed), abs=1e-3)
        assert record.distance == pytest.approx(float(distance), abs=1e-3)
        assert record.cadence == (None if cadence == "null" else float(cadence))


def test_a_file_without_dates_is_refused_or_warned_about():
    with pytest.raises(MalformedFile, match="switched on"):
        read("compressed-speed-distance.fit")
    items = read("compressed-speed-distance.fit", ErrorHandling.WARN)
    assert [type(i) for i in items] == [Warning_]


def test_activity_source_offset_and_workout():
    items = read("garmin-fenix-5-walk.fit")
    (workout,) = [i for i in items if isinstance(i, Workout)]
    assert workout.source.name == "Garmin Fenix 5"
    assert workout.source.kind == "device"
    assert "serial:3945849289" in (workout.device or "")
    assert workout.source_version == "4.1"
    assert workout.start_offset_min == -420  # local_timestamp 07:33:42, UTC 14:33:42
    assert workout.activity_type == "walking"
    assert workout.distance_km == pytest.approx(0.06785)
    assert workout.energy_kcal == 4
    assert workout.duration_s == pytest.approx(45.379)
    assert workout.events and workout.events[0]["type"] == "lap"
    stats = {s["type"]: s for s in workout.statistics or []}
    assert stats["heart_rate"]["average"] == 75
    assert stats["heart_rate"]["maximum"] == 82


def test_hrv_is_the_sdnn_of_the_beat_intervals():
    items = read("garmin-fenix-5-walk.fit")
    (hrv,) = [i for i in items if isinstance(i, Quantity) and i.type_code == "hrv_sdnn"]
    beats = [
        t for m in messages("garmin-fenix-5-walk.fit", "hrv") for t in m.get_value("time") if t
    ]
    assert hrv.value == pytest.approx(statistics.stdev(beats) * 1000, abs=1e-3)
    assert hrv.unit == "ms"
    assert hrv.meta == {
        "method": "SDNN of the FIT file's beat-to-beat intervals",
        "beats": len(beats),
    }


def test_monitoring_steps_become_deltas_that_add_up_to_the_day_total():
    items = read("MonitoringFile.fit")
    steps = [i for i in items if isinstance(i, Quantity) and i.type_code == "steps"]
    assert {i.source.name for i in items} == {"Garmin Vivofit"}
    assert all(i.start_offset_min == -360 for i in steps)  # monitoring_info local time
    assert all(i.value > 0 and i.start_ms <= i.end_ms for i in steps)
    # Independent count: the day's final running totals (the "steps" sub-field of cycles).
    finals: dict[str, int] = {}
    for message in messages("MonitoringFile.fit", "monitoring"):
        kind = message.get_value("activity_type", fallback=None)
        if kind in ("walking", "running") and message.has_field("cycles"):
            finals[kind] = max(finals.get(kind, 0), message.get_raw_value("cycles"))
    assert sum(i.value for i in steps) == sum(finals.values()) == 3173
    # Samples of one local day: none after local midnight (the 00:00 totals close the day).
    days = {(i.start_ms // 1000 + i.start_offset_min * 60) // 86400 for i in steps}
    assert len(days) == 1


def test_weight_scale_with_two_users():
    items = read("WeightScaleMultiUser.fit")
    weights = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_mass"]
    fat = [i for i in items if isinstance(i, Quantity) and i.type_code == "body_fat_percentage"]
    assert [w.value for w in weights] == [75.8, 58.2]
    assert [f.value for f in fat] == [22.3, 25.1]
    assert [w.meta for w in weights] == [
        {"fit_user_profile_index": 0},
        {"fit_user_profile_index": 1},
    ]
    warnings = [i.message for i in items if isinstance(i, Warning_)]
    assert any("2 people" in w for w in warnings)
    assert any("offset +00:00" in w for w in warnings)  # no local time in a scale file


def test_chained_files_give_one_workout_per_session():
    items = read("sample_mulitple_header.fit")
    sessions = messages("sample_mulitple_header.fit", "session")
    workouts = [i for i in items if isinstance(i, Workout)]
    assert len(workouts) == len(sessions) == 5
    assert {w.activity_type for w in workouts} == {"swimming", "transition", "cycling", "running"}
    assert {w.source.name for w in workouts} == {"Garmin Forerunner 920XT"}


def test_a_chain_of_an_activity_and_settings():
    items = read("activity-settings.fit", ErrorHandling.WARN)
    counts = Counter(i.type_code if isinstance(i, Quantity) else type(i).__name__ for i in items)
    assert counts["Workout"] == 1
    assert counts["running_speed"] == len(messages("activity-settings.fit", "record")) == 14


def test_developer_fields_are_named_and_stryd_power_kept():
    items = read("developer-types-sample.fit", ErrorHandling.WARN)
    (workout,) = [i for i in items if isinstance(i, Workout)]
    assert workout.meta and workout.meta["developer_fields"]["Form Power"] == "Watts"
    assert len(quantities(items, "running_power")) == len(
        messages("developer-types-sample.fit", "record")
    )


def test_implausible_local_time_falls_back_to_utc_with_a_warning():
    items = read("null_compressed_speed_dist.fit")
    warnings = [i.message for i in items if isinstance(i, Warning_)]
    assert warnings == [
        "the file's local time is not plausible; times are stored with offset +00:00"
    ]
    assert quantities(items, "heart_rate") == {}  # Zwift wrote 0 for "no heart-rate strap"
    (workout,) = [i for i in items if isinstance(i, Workout)]
    assert workout.source.name == "Zwift"


@pytest.mark.slow
def test_swim_with_garmin_fr935():
    items = read("garmin-fr935-cr.fit")
    (workout,) = [i for i in items if isinstance(i, Workout)]
    assert workout.source.name == "Garmin Forerunner 935"
    assert workout.activity_type == "swimming"
    expected = sum(
        1
        for m in messages("garmin-fr935-cr.fit", "record")
        if m.get_value("heart_rate", fallback=None)
    )
    assert len(quantities(items, "heart_rate")) == len(
        {
            m.get_value("timestamp")
            for m in messages("garmin-fr935-cr.fit", "record")
            if m.get_value("heart_rate", fallback=None)
        }
    )
    assert expected > 0


@pytest.mark.parametrize("name", ["Settings.fit", "nametest.FIT", "WorkoutIndividualSteps.fit"])
def test_files_without_measurements_give_nothing(name):
    assert read(name) == []


@pytest.mark.parametrize(
    ("name", "byte", "what"),
    [
        ("activity-settings-corruptheader.fit", 771, "not a FIT file header"),
        ("activity-settings-nodata.fit", 784, "cut short"),
        ("activity-unexpected-eof.fit", 768, "cut short"),
        ("activity-filecrc.fit", 769, "checksum"),
        ("activity-activity-filecrc.fit", 1540, "checksum"),
        ("strava-android-app-201.10-b1218918.fit", 7471, "cannot be read"),
    ],
)
def test_broken_files_name_the_file_and_byte(name, byte, what):
    for errors in ErrorHandling:
        with pytest.raises(MalformedFile) as caught:
            read(name, errors)
        assert caught.value.source == name
        assert caught.value.location == f"byte {byte}"
        assert what in caught.value.message
        assert caught.value.hint


def test_misaligned_fields_warn_or_raise():
    with pytest.raises(MalformedFile, match="invalid field size") as caught:
        read("coros-pace-2-cycling-misaligned-fields.fit")
    assert caught.value.location == "byte 41093"


@pytest.mark.slow
def test_misaligned_fields_are_skipped_with_warnings():
    items = read("coros-pace-2-cycling-misaligned-fields.fit", ErrorHandling.WARN)
    warnings = [i for i in items if isinstance(i, Warning_)]
    assert len(warnings) == 5
    assert all("invalid field size" in w.message for w in warnings)
    assert len(quantities(items, "heart_rate")) > 8000


@pytest.mark.parametrize(
    ("data", "where"),
    [(b"", "byte 0"), (b"hello, this is not a FIT file", "byte 0")],
)
def test_empty_or_foreign_bytes(data, where):
    with pytest.raises(MalformedFile) as caught:
        list(IMPORTER.read(io.BytesIO(data), filename="x.fit", errors=ErrorHandling.RAISE))
    assert caught.value.location == where


def test_sniff_reads_content_not_the_name():
    head = (FIT / "Activity.fit").read_bytes()[:64]
    assert IMPORTER.sniff(head, "anything.bin")
    assert not IMPORTER.sniff(b"<?xml version='1.0'?>", "activity.fit")


@pytest.mark.parametrize(
    ("product", "name"),
    [
        ("fr935", "Forerunner 935"),
        ("fr920xt", "Forerunner 920XT"),
        ("edge500", "Edge 500"),
        ("vivo_active_hr", "Vivoactive HR"),
        ("fenix2", "Fenix 2"),
    ],
)
def test_product_names(product, name):
    assert product_name(product) == name


ACTIVITY = (FIT / "Activity.fit").read_bytes()


def test_an_odd_header_size_is_our_error():
    # Found by the test below: fitdecode raised struct.error for a 15-byte header.
    damaged = bytearray(ACTIVITY)
    damaged[0] = 15
    with pytest.raises(MalformedFile, match="byte"):
        list(IMPORTER.read(io.BytesIO(bytes(damaged)), filename="a.fit"))


def test_a_data_size_smaller_than_the_records_is_our_error():
    # Found by the test below: fitdecode failed an `assert` on the record size.
    damaged = bytearray(ACTIVITY)
    damaged[4:8] = (20).to_bytes(4, "little")
    with pytest.raises(MalformedFile, match="byte"):
        list(IMPORTER.read(io.BytesIO(bytes(damaged)), filename="a.fit"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(ACTIVITY) - 1), st.integers(1, 255))
def test_any_flipped_byte_gives_our_error_or_valid_items(position, flip):
    damaged = bytearray(ACTIVITY)
    damaged[position] ^= flip
    with contextlib.suppress(IngestError):
        list(IMPORTER.read(io.BytesIO(bytes(damaged)), filename="a.fit"))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_garbage_raises_only_ingest_errors(data):
    with contextlib.suppress(IngestError):
        list(IMPORTER.read(io.BytesIO(b"\x0e\x10" + data), filename="g.fit"))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(ACTIVITY) - 1))
def test_every_cut_is_reported_with_a_byte_offset(length):
    with pytest.raises(MalformedFile) as caught:
        list(IMPORTER.read(io.BytesIO(ACTIVITY[:length]), filename="cut.fit"))
    assert (caught.value.location or "").startswith("byte ")


# Through the import pipeline, on SQLite and PostgreSQL (the `pod` fixture).


def stored(pod, table) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))


def test_import_stores_every_item_once_and_a_second_import_adds_nothing(pod):
    from healthpod.ingest.run import import_file

    path = FIT / "garmin-fenix-5-walk.fit"
    # Independent count with fitdecode alone: one sample per record field, one per file of HRV.
    records = messages(path.name, "record")
    expected = Counter(
        heart_rate=sum(m.get_value("heart_rate", fallback=None) is not None for m in records),
        walking_speed=sum(
            m.get_value("enhanced_speed", fallback=None) is not None for m in records
        ),
        **{"fit:cadence": sum(m.get_value("cadence", fallback=None) is not None for m in records)},
        hrv_sdnn=1 if messages(path.name, "hrv") else 0,
    )
    assert len(messages(path.name, "session")) == 1
    first = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert first.format == "fit"
    assert first.status == "completed"
    assert first.added == {**expected, "workout": 1}
    assert stored(pod, schema.quantity_samples) == sum(expected.values()) == 17 * 3 + 1
    assert stored(pod, schema.workouts) == 1
    with as_superuser(pod.engine) as conn:
        names = conn.execute(select(schema.sources.c.name)).scalars().all()
    assert names == ["Garmin Fenix 5"]
    second = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert second.total_added == 0
    assert stored(pod, schema.quantity_samples) == sum(expected.values())
    assert stored(pod, schema.workouts) == 1


def test_monitoring_import_counts(pod):
    from healthpod.ingest.run import import_file

    report = import_file(pod, FIT / "MonitoringFile.fit", errors=ErrorHandling.RAISE)
    assert report.added["steps"] == 79
    with as_superuser(pod.engine) as conn:
        total = conn.scalar(select(func.sum(schema.quantity_samples.c.value)))
    assert total == 3173 + 69  # steps of the day plus active energy (walking 68, running 1)


@pytest.mark.parametrize("name", ["activity-unexpected-eof.fit", "activity-filecrc.fit"])
def test_a_broken_file_stores_nothing_and_keeps_what_was_there(pod, name):
    from healthpod.ingest.run import import_file

    import_file(pod, FIT / "Activity.fit", errors=ErrorHandling.RAISE)
    before = stored(pod, schema.quantity_samples)
    with pytest.raises(MalformedFile, match=r"byte \d+"):
        import_file(pod, FIT / name, errors=ErrorHandling.RAISE)
    assert stored(pod, schema.quantity_samples) == before
    assert stored(pod, schema.workouts) == 1


@pytest.mark.slow
def test_cli_names_the_format_and_refuses_a_broken_file_with_exit_1(tmp_path):
    from click.testing import CliRunner

    from healthpod.cli import cli

    def run(*args: str):
        return CliRunner().invoke(cli, ["--home", str(tmp_path), *args], catch_exceptions=False)

    assert run("init").exit_code == 0
    result = run("import", str(FIT / "garmin-fenix-5-walk.fit"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "fit"
    assert report["added"]["heart_rate"] == 17
    broken = run("import", str(FIT / "activity-unexpected-eof.fit"))
    assert broken.exit_code == 1
    assert "activity-unexpected-eof.fit, byte 768: the file is cut short" in broken.stderr
    assert "Traceback" not in broken.output


def test_swim_heart_rate_from_the_strap_hr_messages():
    # A pool swim (Forerunner 735XT): the records have no heart rate; the HRM strap stored the
    # beats and sent them after the swim as `hr` messages with 12-bit event timestamps.
    items = read("event_timestamp.fit")
    heart = quantities(items, "heart_rate")
    expected = set()
    for message in messages("event_timestamp.fit", "hr"):
        times = [f.value for f in message.fields if f.name == "event_timestamp"]
        rates = message.get_value("filtered_bpm")
        rates = rates if isinstance(rates, tuple) else (rates,)
        expected |= {
            (round(t.timestamp() * 1000), float(b))
            for t, b in zip(times, rates, strict=False)
            if isinstance(t, datetime)
        }
    assert set(heart.items()) == expected
    assert len(heart) > 10_000
    (workout,) = [i for i in items if isinstance(i, Workout)]
    assert workout.activity_type == "swimming"
    # The strap records from the moment the watch starts looking for it, before the session.
    first = messages("event_timestamp.fit", "hr")[0].get_value("timestamp")
    assert first.timestamp() * 1000 <= min(heart) and max(heart) <= workout.end_ms + 60_000
    assert all(40 <= v <= 200 for v in heart.values())


def test_a_stream_larger_than_any_device_writes_is_refused(monkeypatch):
    from healthpod.ingest.fit import decode as fit_decode

    monkeypatch.setattr(fit_decode, "MAX_FIT_BYTES", 20_000)
    with pytest.raises(MalformedFile, match="larger than") as caught:
        read("sample_mulitple_header.fit")
    assert (caught.value.location or "").startswith("byte ")


def test_a_zip_of_fit_files_imports_each_and_reports_the_broken_one(pod, tmp_path):
    import zipfile

    from healthpod.ingest.run import import_path

    archive = tmp_path / "garmin.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FIT / "garmin-fenix-5-walk.fit", "GARMIN/Activity/walk.fit")
        zf.write(FIT / "MonitoringFile.fit", "GARMIN/Monitor/day.FIT")
        zf.write(FIT / "activity-filecrc.fit", "GARMIN/Activity/bad.fit")
    reports = import_path(pod, archive, errors=ErrorHandling.WARN)
    assert [(r.status, r.total_added) for r in reports] == [
        ("completed", 53),
        ("completed", 81),
        ("failed", 0),
    ]
    assert "GARMIN/Activity/bad.fit, byte 769: the checksum (CRC) does not match" in (
        reports[2].error or ""
    )


# A monitoring file built byte by byte, for what no public file holds: a 16-bit timestamp that
# wraps, a running total that restarts at local midnight, heart rate, intensity minutes, stress.

FIT_EPOCH = 631065600
UINT8, UINT16, SINT16, UINT32, ENUM = 0x02, 0x84, 0x83, 0x86, 0x00


def fit_bytes(messages_: list[tuple[int, int, list[tuple[int, int, int, int | None]]]]) -> bytes:
    """A FIT file from (local number, global number, [(field, size, base type, value)])."""
    from fitdecode.utils import compute_crc

    invalid = {UINT8: 0xFF, UINT16: 0xFFFF, SINT16: 0x7FFF, UINT32: 0xFFFFFFFF, ENUM: 0xFF}
    formats = {UINT8: "<B", UINT16: "<H", SINT16: "<h", UINT32: "<I", ENUM: "<B"}
    body = bytearray()
    defined: dict[int, tuple] = {}
    for local, global_, fields in messages_:
        shape = tuple((f, s, t) for f, s, t, _ in fields)
        if defined.get(local) != (global_, shape):
            body += struct.pack("<BBBHB", 0x40 | local, 0, 0, global_, len(fields))
            for number, size, base in shape:
                body += bytes((number, size, base))
            defined[local] = (global_, shape)
        body.append(local)
        for _, _, base, value in fields:
            body += struct.pack(formats[base], invalid[base] if value is None else value)
    header = struct.pack("<BBHI4s", 14, 0x10, 2093, len(body), b".FIT")
    header += struct.pack("<H", compute_crc(header))
    return header + bytes(body) + struct.pack("<H", compute_crc(header + body))


def test_monitoring_16_bit_times_daily_restart_heart_rate_intensity_and_stress():
    midnight = 1705273200  # 2024-01-15T00:00+01:00 (Stockholm in winter)
    t0 = midnight - FIT_EPOCH

    def monitoring(hours: float, kind: int, steps: int | None, **extra: int | None):
        t16 = (t0 + int(hours * 3600)) & 0xFFFF
        return (
            2,
            55,
            [
                (26, 2, UINT16, t16),  # timestamp_16
                (5, 1, ENUM, kind),  # activity_type: 6 walking, 1 running
                (3, 4, UINT32, steps),  # cycles; the steps sub-field counts one per step
                (27, 1, UINT8, extra.get("bpm")),
                (33, 2, UINT16, extra.get("moderate")),
                (34, 2, UINT16, extra.get("vigorous")),
            ],
        )

    data = fit_bytes(
        [
            (0, 0, [(0, 1, ENUM, 32), (1, 2, UINT16, 1), (2, 2, UINT16, 1837)]),  # monitoring_b
            (1, 103, [(253, 4, UINT32, t0), (0, 4, UINT32, t0 + 3600)]),  # local = UTC + 1 h
            monitoring(8, 6, 200, bpm=60),
            monitoring(9, 6, 500, moderate=10, vigorous=5),
            monitoring(10, 1, 300),
            monitoring(20, 6, 800),  # 20 h after the last full timestamp: the 16 bits wrapped
            monitoring(24, 6, 800),  # the day's final totals, stamped 00:00 of the next day
            monitoring(24, 1, 300),
            monitoring(26, 6, 150),  # the next day's total restarted
            (3, 227, [(0, 2, SINT16, 35), (1, 4, UINT32, t0 + 8 * 3600)]),  # stress 35
            (3, 227, [(0, 2, SINT16, -1), (1, 4, UINT32, t0 + 9 * 3600)]),  # off wrist
        ]
    )
    items = list(IMPORTER.read(io.BytesIO(data), filename="day.fit", errors=ErrorHandling.RAISE))
    hour = 3_600_000
    start = midnight * 1000
    steps = [
        (i.start_ms, i.end_ms, i.value)
        for i in items
        if isinstance(i, Quantity) and i.type_code == "steps"
    ]
    assert steps == [
        (start, start + 8 * hour, 200),
        (start + 8 * hour, start + 9 * hour, 300),
        (start, start + 10 * hour, 300),  # running: its own total
        (start + 9 * hour, start + 20 * hour, 300),
        (start + 24 * hour, start + 26 * hour, 150),
    ]
    assert sum(v for s, _, v in steps if s < start + 24 * hour) == 800 + 300
    assert quantities(items, "heart_rate") == {start + 8 * hour: 60}
    (exercise,) = [i for i in items if isinstance(i, Quantity) and i.type_code == "exercise_time"]
    assert (exercise.value, exercise.start_ms, exercise.end_ms) == (
        15,
        start + 8 * hour,
        start + 9 * hour,
    )
    assert quantities(items, "fit:stress_level") == {start + 8 * hour: 35}
    assert {i.start_offset_min for i in items if isinstance(i, Quantity)} == {60}
    assert {i.source.name for i in items if isinstance(i, Quantity)} == {"Garmin Vivofit"}
