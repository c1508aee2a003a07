"""Health Connect's exported database: every record type against plain SQL over the file."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser
from tests.ingest.android.hc_builder import (
    CEST,
    HOUR,
    MINUTE,
    T0,
    HealthConnectBuilder,
    every_record_type,
)

from healthpod.errors import MalformedFile
from healthpod.ingest import registry
from healthpod.ingest.android.health_connect import IMPORTER
from healthpod.ingest.base import ErrorHandling, Quantity, SampleBatch, SourceRef, Warning_
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import schema

# Our type → how many samples of it the database holds, by a plain query over the file.
EXPECTED_SQL: dict[str, str] = {
    "steps": "SELECT count(*) FROM steps_record_table",
    "distance_walking_running": "SELECT count(*) FROM distance_record_table",
    "active_energy": "SELECT count(*) FROM active_calories_burned_record_table",
    "total_energy": "SELECT count(*) FROM total_calories_burned_record_table",
    "elevation_gained": "SELECT count(*) FROM elevation_gained_record_table",
    "flights_climbed": "SELECT count(*) FROM floors_climbed_record_table",
    "push_count": "SELECT count(*) FROM wheelchair_pushes_record_table",
    "dietary_water": "SELECT count(*) FROM hydration_record_table",
    "body_mass": "SELECT count(*) FROM weight_record_table",
    "body_height": "SELECT count(*) FROM height_record_table",
    "body_fat_percentage": "SELECT count(*) FROM body_fat_record_table",
    "lean_body_mass": "SELECT count(*) FROM lean_body_mass_record_table",
    "bone_mass": "SELECT count(*) FROM bone_mass_record_table",
    "body_water_mass": "SELECT count(*) FROM body_water_mass_record_table",
    "basal_metabolic_rate": "SELECT count(*) FROM basal_metabolic_rate_record_table",
    "resting_heart_rate": "SELECT count(*) FROM resting_heart_rate_record_table",
    "hrv_rmssd": "SELECT count(*) FROM heart_rate_variability_rmssd_record_table",
    "oxygen_saturation": "SELECT count(*) FROM oxygen_saturation_record_table",
    "respiratory_rate": "SELECT count(*) FROM respiratory_rate_record_table",
    "body_temperature": "SELECT count(*) FROM body_temperature_record_table",
    "basal_body_temperature": "SELECT count(*) FROM basal_body_temperature_record_table",
    "blood_glucose": "SELECT count(*) FROM blood_glucose_record_table",
    "vo2_max": "SELECT count(*) FROM vo2_max_record_table",
    "heart_rate": "SELECT count(*) FROM heart_rate_record_series_table",
    "healthconnect:speed": "SELECT count(*) FROM speed_record_table",
    "healthconnect:power": "SELECT count(*) FROM power_record_table",
    "healthconnect:steps_cadence": "SELECT count(*) FROM steps_cadence_record_table",
    "cycling_cadence": "SELECT count(*) FROM cycling_pedaling_cadence_record_table",
    "blood_pressure": "SELECT count(*) FROM blood_pressure_record_table",
    "blood_pressure_systolic": "SELECT count(*) FROM blood_pressure_record_table",
    "blood_pressure_diastolic": "SELECT count(*) FROM blood_pressure_record_table",
    "food": "SELECT count(*) FROM nutrition_record_table",
    "dietary_energy": "SELECT count(*) FROM nutrition_record_table WHERE energy > 1e-300",
    "dietary_protein": "SELECT count(*) FROM nutrition_record_table WHERE protein > 1e-300",
    "dietary_carbohydrates": (
        "SELECT count(*) FROM nutrition_record_table WHERE total_carbohydrate > 1e-300"
    ),
    "dietary_sodium": "SELECT count(*) FROM nutrition_record_table WHERE sodium > 1e-300",
    "dietary_vitamin_d": "SELECT count(*) FROM nutrition_record_table WHERE vitamin_d > 1e-300",
    "menstrual_flow": "SELECT count(*) FROM menstruation_flow_record_table",
    "intermenstrual_bleeding": "SELECT count(*) FROM intermenstrual_bleeding_record_table",
    "ovulation_test_result": "SELECT count(*) FROM ovulation_test_record_table",
    "cervical_mucus_quality": "SELECT count(*) FROM cervical_mucus_record_table",
    "sexual_activity": "SELECT count(*) FROM sexual_activity_record_table",
    "mindful_session": "SELECT count(*) FROM mindfulness_session_record_table",
    # a session in bed, plus its stages, or one "asleep" span when it has none
    "sleep_analysis": (
        "SELECT (SELECT count(*) FROM sleep_session_record_table)"
        " + (SELECT count(*) FROM sleep_stages_table)"
        " + (SELECT count(*) FROM sleep_session_record_table s WHERE NOT EXISTS"
        "    (SELECT 1 FROM sleep_stages_table t WHERE t.parent_key = s.row_id))"
    ),
    "workout": "SELECT count(*) FROM exercise_session_record_table",
}


@pytest.fixture
def export_zip(tmp_path: Path) -> Path:
    db = every_record_type(tmp_path / "built.db")
    path = tmp_path / "health_connect_export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(db, "health_connect_export.db")
    return path


def plain_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {code: conn.execute(sql).fetchone()[0] for code, sql in EXPECTED_SQL.items()}


def stored_counts(pod: Pod) -> Counter[str]:
    counts: Counter[str] = Counter()
    t = schema.sample_types
    with as_superuser(pod.engine) as conn:
        for table in (schema.quantity_samples, schema.category_samples):
            query = select(t.c.code, func.count()).join(table).group_by(t.c.code)
            counts.update(dict(conn.execute(query).all()))
        c = schema.correlations
        counts.update(
            dict(conn.execute(select(c.c.type_code, func.count()).group_by(c.c.type_code)).all())
        )
        counts["workout"] = conn.scalar(select(func.count()).select_from(schema.workouts)) or 0
    return counts


def read(path: Path, errors: ErrorHandling = ErrorHandling.RAISE) -> list[Any]:
    """The items of the file, each batch of samples spelled out as Quantity items."""
    with path.open("rb") as fp:
        return [
            one
            for item in IMPORTER.read(fp, filename=path.name, errors=errors)
            for one in (spelled_out(item) if isinstance(item, SampleBatch) else [item])
        ]


def spelled_out(b: SampleBatch) -> list[Quantity]:
    return [
        Quantity(
            b.keys[b.key_index[n]].code,
            b.start_ms[n],
            b.end_ms[n],
            b.start_offset_min[n],
            b.end_offset_min[n],
            b.values[n],
            b.keys[b.key_index[n]].unit,
            SourceRef(b.sources[b.source_index[n]]),
            device=b.devices[b.device_index[n]],
            meta=None if b.meta[n] is None else json.loads(b.meta[n]),
            known=b.keys[b.key_index[n]].known,
        )
        for n in range(len(b))
    ]


def test_every_record_type_is_stored_as_plain_sql_counts_it(pod: Pod, export_zip: Path) -> None:
    report = import_file(pod, export_zip, errors=ErrorHandling.RAISE)
    assert (report.status, report.format) == ("completed", "health-connect")
    expected = plain_counts(export_zip.parent / "built.db")
    stored = stored_counts(pod)
    assert {code: stored[code] for code in expected} == expected
    assert all(n > 0 for n in expected.values())  # the fixture has every type
    # the one table of a type healthpod does not read is named, not fatal
    assert [w.location for w in report.warnings] == ["table menstruation_period_record_table"]


def test_the_database_alone_is_detected_too(tmp_path: Path) -> None:
    db = every_record_type(tmp_path / "health_connect_export.db")
    assert registry.detect(db.read_bytes()[:64], "renamed.bin").format == "health-connect"
    assert registry.claims_zip(["Health Connect/health_connect_export.db"]) is IMPORTER


def test_importing_the_same_export_twice_adds_nothing(pod: Pod, export_zip: Path) -> None:
    first = import_file(pod, export_zip)
    again = import_file(pod, export_zip)
    assert first.total_added > 0
    assert again.total_added == 0
    assert again.already_present == first.total_added


def test_values_units_offsets_and_sources(tmp_path: Path) -> None:
    items = read(every_record_type(tmp_path / "hc.db"))
    quantities = [i for i in items if isinstance(i, Quantity)]

    def values(code: str) -> list[float]:
        return [q.value for q in quantities if q.type_code == code]

    assert values("body_mass") == [72.5]  # grams → kg
    assert values("body_height") == [pytest.approx(178.0)]  # metres → cm
    assert values("active_energy") == [pytest.approx(152.0)]  # calories → kcal
    assert values("dietary_water") == [250.0]  # litres → mL
    assert values("basal_metabolic_rate") == [pytest.approx(80 * 86400 / 4184)]  # W → kcal/d
    steps = [q for q in quantities if q.type_code == "steps"]
    assert {q.start_offset_min for q in steps} == {CEST // 60}
    assert {q.source.name for q in steps} == {"Samsung Health", "Fit"}
    temperature = next(q for q in quantities if q.type_code == "body_temperature")
    assert temperature.meta == {"measurement_location": 1}
    assert {q.device for q in steps} == {"Samsung SM-R930 (watch)", None}
    food = next(i for i in items if getattr(i, "type_code", None) == "food")
    nutrients = {s.type_code: s.value for s in food.samples}
    assert nutrients == {
        "dietary_energy": pytest.approx(450.0),
        "dietary_protein": 20.0,
        "dietary_carbohydrates": 55.0,
        "dietary_sodium": pytest.approx(400.0),  # g → mg
        "dietary_vitamin_d": pytest.approx(5.0),  # g → ug
    }
    run = next(i for i in items if getattr(i, "activity_type", None) == "running")
    assert run.meta["title"] == "Evening run"
    assert len(run.route["points"]) == 30
    assert [e["type"] for e in run.events] == ["lap", "lap", "lap"]


def test_a_zip_without_the_database_is_refused(pod: Pod, tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(MalformedFile, match=r"no health_connect_export\.db"):
        read(path)


def refused(pod: Pod, path: Path, match: str) -> None:
    """The import is refused with `match` in the message, naming the file; nothing stored."""
    with pytest.raises(MalformedFile, match=match) as caught:
        import_file(pod, path)
    assert path.name in caught.value.message
    assert sum(stored_counts(pod).values()) == 0
    with as_superuser(pod.engine) as conn:
        statuses = conn.scalars(select(schema.imports.c.status)).all()
    assert "completed" not in statuses  # a failed import is in the history, or none at all


def hostile(tmp_path: Path, sql: str, *, name: str = "health_connect_export.db") -> Path:
    db = every_record_type(tmp_path / name)
    with sqlite3.connect(db) as conn:
        conn.executescript(sql)
    return db


def test_a_database_with_a_trigger_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(
        tmp_path,
        "CREATE TRIGGER wipe AFTER INSERT ON steps_record_table "
        "BEGIN DELETE FROM weight_record_table; END;",
    )
    refused(pod, db, "holds a trigger")


def test_a_database_with_a_view_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(tmp_path, "CREATE VIEW steps AS SELECT * FROM steps_record_table;")
    refused(pod, db, "holds a view")


def test_a_database_with_a_virtual_table_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(tmp_path, "CREATE VIRTUAL TABLE notes USING fts5(body);")
    refused(pod, db, "holds a virtual table")


def test_a_huge_value_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(
        tmp_path,
        "UPDATE exercise_session_record_table SET title = zeroblob(3000000) WHERE row_id = 1;",
    )
    refused(pod, db, "larger than 1024 KB")


@pytest.mark.parametrize("version", [0, 3, 500])
def test_a_wrong_schema_version_is_refused(pod: Pod, tmp_path: Path, version: int) -> None:
    db = hostile(tmp_path, f"PRAGMA user_version = {version};")
    refused(pod, db, f"schema version {version}")


def test_a_missing_column_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(tmp_path, "ALTER TABLE weight_record_table DROP COLUMN weight;")
    refused(pod, db, "weight_record_table has no column weight")


def test_another_sqlite_database_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    refused(pod, db, "not a Health Connect export")


def test_a_zip_with_path_traversal_is_refused(pod: Pod, tmp_path: Path) -> None:
    db = every_record_type(tmp_path / "built.db")
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(db, "health_connect_export.db")
        zf.writestr("../../evil.sh", "rm -rf /")
    refused(pod, path, "points outside the archive")


def test_generated_columns_are_never_computed(tmp_path: Path) -> None:
    # A generated column's expression is the file's SQL: reading it would build a 2 GB blob.
    db = tmp_path / "hc.db"
    b = HealthConnectBuilder(db)
    app = b.app("com.example", "Example")
    b.intervals("steps_record_table", app, [(T0, T0 + MINUTE, 0, {"count": 10})])
    b.conn.execute(
        "ALTER TABLE steps_record_table ADD COLUMN bomb BLOB "
        "GENERATED ALWAYS AS (zeroblob(2000000000)) VIRTUAL"
    )
    b.close()
    steps = [i for i in read(db) if isinstance(i, Quantity)]
    assert [s.value for s in steps] == [10.0]


def test_unknown_tables_are_reported_not_fatal(tmp_path: Path) -> None:
    db = hostile(
        tmp_path,
        "CREATE TABLE future_thing_record_table (row_id INTEGER PRIMARY KEY);"
        "INSERT INTO future_thing_record_table VALUES (1);"
        "CREATE TABLE scratch (x);",
    )
    warnings = {w.location: w.message for w in read(db) if isinstance(w, Warning_)}
    assert (
        "1 record of a type healthpod does not import yet left out"
        in warnings["table future_thing_record_table"]
    )
    assert "not a Health Connect record type" in warnings["table scratch"]


def test_a_bad_row_is_skipped_with_a_warning_or_refused(pod: Pod, tmp_path: Path) -> None:
    db = hostile(
        tmp_path,
        "UPDATE steps_record_table SET start_time = 'yesterday' WHERE row_id = 2;"
        "UPDATE weight_record_table SET zone_offset = 999999;",
    )
    items = read(db, ErrorHandling.WARN)
    warnings = [w for w in items if isinstance(w, Warning_)]
    assert {w.location for w in warnings} >= {
        "table steps_record_table, row 2",
        "table weight_record_table, row 1",
    }
    assert len([i for i in items if getattr(i, "type_code", None) == "steps"]) == 5
    with pytest.raises(MalformedFile, match=r"steps_record_table, row 2: start_time 'yesterday'"):
        read(db, ErrorHandling.RAISE)


def test_sleep_without_stages_counts_as_asleep(tmp_path: Path) -> None:
    items = read(every_record_type(tmp_path / "hc.db"))
    nap = [
        i.value_code
        for i in items
        if getattr(i, "type_code", None) == "sleep_analysis" and i.start_ms >= T0 + 20 * HOUR
    ]
    assert nap == [
        "HKCategoryValueSleepAnalysisInBed",
        "HKCategoryValueSleepAnalysisAsleepUnspecified",
    ]
