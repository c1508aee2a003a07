"""Health Connect export databases written on the fly, from the schema Android documents.

The tables and columns are those the Health Connect service creates (the `*RecordHelper`
classes of AOSP packages/modules/HealthFitness, Apache 2.0; see tests/data/SOURCES.md): common
record columns, instant or interval time columns with generated local-time columns (as in
database version 10 and later), value columns in Health Connect's internal units, and child
tables keyed by `parent_key`. Written here independently of `healthpod.ingest.android`, so
that a test comparing the two compares two readings of the documentation.
"""

from __future__ import annotations

import sqlite3
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

VERSION = 13
COMMON = (
    "row_id INTEGER PRIMARY KEY AUTOINCREMENT, uuid BLOB UNIQUE NOT NULL, "
    "last_modified_time INTEGER, client_record_id TEXT, client_record_version TEXT, "
    "device_info_id INTEGER, app_info_id INTEGER, recording_method INTEGER, "
    "dedupe_hash BLOB UNIQUE"
)
INSTANT = (
    "time INTEGER, zone_offset INTEGER, local_date INTEGER, "
    "local_date_time INTEGER GENERATED ALWAYS AS (time + 1000 * zone_offset) VIRTUAL"
)
INTERVAL = (
    "start_time INTEGER, start_zone_offset INTEGER, end_time INTEGER, end_zone_offset INTEGER, "
    "local_date INTEGER, "
    "local_date_time_start_time INTEGER GENERATED ALWAYS AS "
    "(start_time + 1000 * start_zone_offset) VIRTUAL, "
    "local_date_time_end_time INTEGER GENERATED ALWAYS AS "
    "(end_time + 1000 * end_zone_offset) VIRTUAL"
)
NUTRIENT_COLUMNS = (
    "unsaturated_fat",
    "potassium",
    "thiamin",
    "trans_fat",
    "manganese",
    "energy_from_fat",
    "caffeine",
    "dietary_fiber",
    "selenium",
    "vitamin_b6",
    "protein",
    "chloride",
    "cholesterol",
    "copper",
    "iodine",
    "vitamin_b12",
    "zinc",
    "riboflavin",
    "energy",
    "molybdenum",
    "phosphorus",
    "chromium",
    "total_fat",
    "calcium",
    "vitamin_c",
    "vitamin_e",
    "biotin",
    "vitamin_d",
    "niacin",
    "magnesium",
    "total_carbohydrate",
    "vitamin_k",
    "polyunsaturated_fat",
    "saturated_fat",
    "sodium",
    "folate",
    "monounsaturated_fat",
    "pantothenic_acid",
    "iron",
    "vitamin_a",
    "folic_acid",
    "sugar",
)

# table → (instant?, its own columns with types)
RECORD_TABLES: dict[str, tuple[bool, str]] = {
    "steps_record_table": (False, "count INTEGER"),
    "distance_record_table": (False, "distance REAL"),
    "active_calories_burned_record_table": (False, "energy REAL"),
    "total_calories_burned_record_table": (False, "energy REAL"),
    "elevation_gained_record_table": (False, "elevation REAL"),
    "floors_climbed_record_table": (False, "floors REAL"),
    "wheelchair_pushes_record_table": (False, "count INTEGER"),
    "hydration_record_table": (False, "volume REAL"),
    "weight_record_table": (True, "weight REAL"),
    "height_record_table": (True, "height REAL"),
    "body_fat_record_table": (True, "percentage REAL"),
    "lean_body_mass_record_table": (True, "mass REAL"),
    "bone_mass_record_table": (True, "mass REAL"),
    "body_water_mass_record_table": (True, "body_water_mass REAL NOT NULL"),
    "basal_metabolic_rate_record_table": (True, "basal_metabolic_rate REAL"),
    "resting_heart_rate_record_table": (True, "beats_per_minute INTEGER"),
    "heart_rate_variability_rmssd_record_table": (
        True,
        "heart_rate_variability_millis REAL NOT NULL",
    ),
    "oxygen_saturation_record_table": (True, "percentage REAL"),
    "respiratory_rate_record_table": (True, "rate REAL"),
    "body_temperature_record_table": (True, "measurement_location INTEGER, temperature REAL"),
    "basal_body_temperature_record_table": (
        True,
        "measurement_location INTEGER, temperature REAL",
    ),
    "blood_glucose_record_table": (
        True,
        "specimen_source TEXT NOT NULL, level REAL, relation_to_meal TEXT NOT NULL, "
        "meal_type TEXT NOT NULL",
    ),
    "vo2_max_record_table": (
        True,
        "measurement_method INTEGER, vo2_milliliters_per_minute_kilogram REAL",
    ),
    "blood_pressure_record_table": (
        True,
        "measurement_location TEXT NOT NULL, systolic REAL, diastolic REAL, "
        "body_position TEXT NOT NULL",
    ),
    "nutrition_record_table": (
        False,
        ", ".join(f"{c} REAL" for c in NUTRIENT_COLUMNS) + ", meal_type INTEGER, meal_name TEXT",
    ),
    "menstruation_flow_record_table": (True, "flow INTEGER"),
    "intermenstrual_bleeding_record_table": (True, ""),
    "ovulation_test_record_table": (True, "result INTEGER"),
    "cervical_mucus_record_table": (True, "sensation INTEGER, appearance INTEGER"),
    "sexual_activity_record_table": (True, "protection_used INTEGER"),
    "menstruation_period_record_table": (False, ""),
    "mindfulness_session_record_table": (False, "type INTEGER, title TEXT, notes TEXT"),
    "sleep_session_record_table": (False, "notes TEXT, title TEXT"),
    "exercise_session_record_table": (
        False,
        "notes TEXT, exercise_type INTEGER, title TEXT, has_route INTEGER",
    ),
    "heart_rate_record_table": (False, ""),
    "SpeedRecordTable": (False, ""),
    "PowerRecordTable": (False, ""),
    "StepsCadenceRecordTable": (False, ""),
    "CyclingPedalingCadenceRecordTable": (False, ""),
}
# child table → (parent table, its own columns)
CHILD_TABLES: dict[str, tuple[str, str]] = {
    "heart_rate_record_series_table": (
        "heart_rate_record_table",
        "beats_per_minute INTEGER, epoch_millis INTEGER",
    ),
    "speed_record_table": ("SpeedRecordTable", "speed REAL, epoch_millis INTEGER"),
    "power_record_table": ("PowerRecordTable", "power REAL, epoch_millis INTEGER"),
    "steps_cadence_record_table": ("StepsCadenceRecordTable", "rate REAL, epoch_millis INTEGER"),
    "cycling_pedaling_cadence_record_table": (
        "CyclingPedalingCadenceRecordTable",
        "revolutions_per_minute REAL, epoch_millis INTEGER",
    ),
    "sleep_stages_table": (
        "sleep_session_record_table",
        "stage_start_time INTEGER NOT NULL, stage_end_time INTEGER NOT NULL, "
        "stage_type INTEGER NOT NULL",
    ),
    "exercise_segments_table": (
        "exercise_session_record_table",
        "segment_start_time INTEGER NOT NULL, segment_end_time INTEGER NOT NULL, "
        "segment_type INTEGER NOT NULL, repetitions_count INTEGER NOT NULL",
    ),
    "exercise_laps_table": (
        "exercise_session_record_table",
        "lap_start_time INTEGER NOT NULL, lap_end_time INTEGER NOT NULL, lap_length REAL NOT NULL",
    ),
    "exercise_route_table": (
        "exercise_session_record_table",
        "timestamp_millis INTEGER NOT NULL, longitude REAL NOT NULL, latitude REAL NOT NULL, "
        "horizontal_accuracy REAL NOT NULL, vertical_accuracy REAL NOT NULL, "
        "altitude REAL NOT NULL",
    ),
}
SERVICE_TABLES = {
    "application_info_table": (
        "row_id INTEGER PRIMARY KEY, package_name TEXT NOT NULL UNIQUE, app_name TEXT, "
        "app_icon BLOB, record_types_used TEXT"
    ),
    "device_info_table": (
        "row_id INTEGER PRIMARY KEY, manufacturer TEXT, model TEXT, device_type INTEGER"
    ),
    "access_logs_table": "row_id INTEGER PRIMARY KEY, app_id INTEGER, access_time INTEGER",
    "change_logs_table": "row_id INTEGER PRIMARY KEY, record_type INTEGER",
    "preference_table": "row_id INTEGER PRIMARY KEY, key TEXT UNIQUE, value TEXT",
    "health_data_category_priority_table": (
        "row_id INTEGER PRIMARY KEY, health_data_category INTEGER, app_id_priority_order TEXT"
    ),
}


class HealthConnectBuilder:
    """A Health Connect database being written; `close()` before reading it."""

    def __init__(self, path: Path, *, version: int = VERSION) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.execute(f"PRAGMA user_version = {version}")
        for table, columns in SERVICE_TABLES.items():
            self.conn.execute(f"CREATE TABLE {table} ({columns})")
        for table, (instant, own) in RECORD_TABLES.items():
            times = INSTANT if instant else INTERVAL
            self.conn.execute(
                f"CREATE TABLE {table} ({COMMON}, {times}{', ' + own if own else ''})"
            )
        for table, (parent, own) in CHILD_TABLES.items():
            self.conn.execute(
                f"CREATE TABLE {table} (row_id INTEGER PRIMARY KEY AUTOINCREMENT, "
                f"parent_key INTEGER NOT NULL REFERENCES {parent} (row_id) ON DELETE CASCADE, "
                f"{own})"
            )
            self.conn.execute(f"CREATE INDEX idx_{table}_parent ON {table} (parent_key)")

    def app(self, package: str, name: str | None) -> int:
        cursor = self.conn.execute(
            "INSERT INTO application_info_table (package_name, app_name, app_icon) "
            "VALUES (?, ?, ?)",
            (package, name, b"\x89PNG icon"),
        )
        return int(cursor.lastrowid or 0)

    def device(self, manufacturer: str, model: str, device_type: int) -> int:
        cursor = self.conn.execute(
            "INSERT INTO device_info_table (manufacturer, model, device_type) VALUES (?, ?, ?)",
            (manufacturer, model, device_type),
        )
        return int(cursor.lastrowid or 0)

    def instants(
        self, table: str, app: int, rows: Iterable[tuple[int, int, dict[str, Any]]], device: int = 0
    ) -> None:
        """Instant records: (epoch ms, zone offset in seconds, values)."""
        self._insert(table, app, device, (("time", "zone_offset"), rows))

    def intervals(
        self,
        table: str,
        app: int,
        rows: Iterable[tuple[int, int, int, dict[str, Any]]],
        device: int = 0,
    ) -> list[int]:
        """Interval records: (start ms, end ms, zone offset in seconds, values); their row ids."""
        spans = ((s, offset, e, offset, values) for s, e, offset, values in rows)
        return self._insert(
            table,
            app,
            device,
            (("start_time", "start_zone_offset", "end_time", "end_zone_offset"), spans),
        )

    def _insert(
        self, table: str, app: int, device: int, spec: tuple[Sequence[str], Any]
    ) -> list[int]:
        time_columns, rows = spec
        ids = []
        for row in rows:
            *times, values = row
            columns = ["uuid", "app_info_id", "device_info_id", *time_columns, *values]
            cursor = self.conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                (uuid.uuid4().bytes, app, device or None, *times, *values.values()),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def children(self, table: str, parent: int, rows: Iterable[dict[str, Any]]) -> None:
        for values in rows:
            columns = ["parent_key", *values]
            self.conn.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                (parent, *values.values()),
            )

    def bulk_steps(self, app: int, starts_ms: Sequence[int], offset_s: int, count: int) -> None:
        """Many steps records at once (for volume), each a minute long."""
        self.conn.executemany(
            "INSERT INTO steps_record_table (uuid, app_info_id, start_time, start_zone_offset, "
            "end_time, end_zone_offset, count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (uuid.uuid4().bytes, app, t, offset_s, t + 60_000, offset_s, count)
                for t in starts_ms
            ),
        )

    def close(self) -> Path:
        self.conn.commit()
        self.conn.close()
        return self.path

    def zip(self, path: Path) -> Path:
        """The export as Health Connect writes it: a zip holding health_connect_export.db."""
        self.close()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(self.path, "health_connect_export.db")
        return path


MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_717_200_000_000  # 2024-06-01 00:00:00 UTC
CEST = 7200  # +02:00, in seconds


def every_record_type(path: Path) -> Path:
    """A database holding a few records of every type, from two apps and a watch."""
    b = HealthConnectBuilder(path)
    samsung = b.app("com.sec.android.app.shealth", "Samsung Health")
    fit = b.app("com.google.android.apps.fitness", "Fit")
    watch = b.device("Samsung", "SM-R930", 1)
    t = T0 + 8 * HOUR
    b.intervals(
        "steps_record_table",
        samsung,
        [(t + i * HOUR, t + i * HOUR + 10 * MINUTE, CEST, {"count": 500 + i}) for i in range(5)],
        watch,
    )
    b.intervals("steps_record_table", fit, [(t, t + HOUR, CEST, {"count": 4000})])
    b.intervals("distance_record_table", samsung, [(t, t + HOUR, CEST, {"distance": 3210.0})])
    b.intervals(
        "active_calories_burned_record_table", samsung, [(t, t + HOUR, CEST, {"energy": 152_000.0})]
    )
    b.intervals(
        "total_calories_burned_record_table", fit, [(t, t + DAY, CEST, {"energy": 2_100_000.0})]
    )
    b.intervals(
        "elevation_gained_record_table", samsung, [(t, t + HOUR, CEST, {"elevation": 42.5})]
    )
    b.intervals("floors_climbed_record_table", samsung, [(t, t + HOUR, CEST, {"floors": 3.0})])
    b.intervals("wheelchair_pushes_record_table", fit, [(t, t + HOUR, CEST, {"count": 120})])
    b.intervals("hydration_record_table", fit, [(t, t + MINUTE, CEST, {"volume": 0.25})])
    b.instants("weight_record_table", fit, [(t, CEST, {"weight": 72_500.0})])
    b.instants("height_record_table", fit, [(t, CEST, {"height": 1.78})])
    b.instants("body_fat_record_table", samsung, [(t, CEST, {"percentage": 18.5})])
    b.instants("lean_body_mass_record_table", samsung, [(t, CEST, {"mass": 59_000.0})])
    b.instants("bone_mass_record_table", samsung, [(t, CEST, {"mass": 3_100.0})])
    b.instants("body_water_mass_record_table", samsung, [(t, CEST, {"body_water_mass": 41_000.0})])
    b.instants(
        "basal_metabolic_rate_record_table", samsung, [(t, CEST, {"basal_metabolic_rate": 80.0})]
    )
    b.instants(
        "resting_heart_rate_record_table",
        samsung,
        [(t + i * DAY, CEST, {"beats_per_minute": 55 + i}) for i in range(3)],
        watch,
    )
    b.instants(
        "heart_rate_variability_rmssd_record_table",
        samsung,
        [(t, CEST, {"heart_rate_variability_millis": 41.5})],
    )
    b.instants("oxygen_saturation_record_table", samsung, [(t, CEST, {"percentage": 97.0})])
    b.instants("respiratory_rate_record_table", samsung, [(t, CEST, {"rate": 14.5})])
    b.instants(
        "body_temperature_record_table",
        fit,
        [(t, CEST, {"measurement_location": 1, "temperature": 36.8})],
    )
    b.instants(
        "basal_body_temperature_record_table",
        fit,
        [(t, CEST, {"measurement_location": 5, "temperature": 36.4})],
    )
    b.instants(
        "blood_glucose_record_table",
        fit,
        [(t, CEST, {"specimen_source": 2, "level": 5.4, "relation_to_meal": 3, "meal_type": 1})],
    )
    b.instants(
        "vo2_max_record_table",
        samsung,
        [(t, CEST, {"measurement_method": 2, "vo2_milliliters_per_minute_kilogram": 44.0})],
    )
    b.instants(
        "blood_pressure_record_table",
        fit,
        [
            (
                t + i * HOUR,
                CEST,
                {
                    "measurement_location": 3,
                    "systolic": 120.0 + i,
                    "diastolic": 80.0,
                    "body_position": 2,
                },
            )
            for i in range(2)
        ],
    )
    unset = 5e-324  # Double.MIN_VALUE: Health Connect's "not given"
    nutrients: dict[str, Any] = dict.fromkeys(NUTRIENT_COLUMNS, unset)
    nutrients.update(
        energy=450_000.0,
        protein=20.0,
        total_carbohydrate=55.0,
        sodium=0.4,
        vitamin_d=0.000005,
        meal_type=2,
        meal_name="Lunch",
    )
    b.intervals(
        "nutrition_record_table", fit, [(t + 4 * HOUR, t + 4 * HOUR + 30 * MINUTE, CEST, nutrients)]
    )
    b.instants("menstruation_flow_record_table", fit, [(t, CEST, {"flow": 2})])
    b.instants("intermenstrual_bleeding_record_table", fit, [(t + DAY, CEST, {})])
    b.instants("ovulation_test_record_table", fit, [(t, CEST, {"result": 1})])
    b.instants("cervical_mucus_record_table", fit, [(t, CEST, {"sensation": 1, "appearance": 5})])
    b.instants("sexual_activity_record_table", fit, [(t, CEST, {"protection_used": 1})])
    b.intervals("menstruation_period_record_table", fit, [(t, t + 4 * DAY, CEST, {})])
    b.intervals(
        "mindfulness_session_record_table",
        fit,
        [(t, t + 10 * MINUTE, CEST, {"type": 1, "title": "Breathe", "notes": None})],
    )
    night = T0 - 2 * HOUR  # 22:00 local on 31 May
    staged, _nap = b.intervals(
        "sleep_session_record_table",
        samsung,
        [
            (night, night + 8 * HOUR, CEST, {"title": None, "notes": None}),
            (night + DAY, night + DAY + 7 * HOUR, CEST, {"title": "nap", "notes": None}),
        ],
        watch,
    )
    b.children(
        "sleep_stages_table",
        staged,
        [
            {
                "stage_start_time": night + i * HOUR,
                "stage_end_time": night + (i + 1) * HOUR,
                "stage_type": (4, 5, 6, 1, 4, 5, 7, 3)[i],
            }
            for i in range(8)
        ],
    )
    heart = b.intervals(
        "heart_rate_record_table", samsung, [(t, t + 10 * MINUTE, CEST, {})], watch
    )[0]
    b.children(
        "heart_rate_record_series_table",
        heart,
        [{"beats_per_minute": 60 + i, "epoch_millis": t + i * MINUTE} for i in range(10)],
    )
    for parent, child, column, value in (
        ("SpeedRecordTable", "speed_record_table", "speed", 3.2),
        ("PowerRecordTable", "power_record_table", "power", 210.0),
        ("StepsCadenceRecordTable", "steps_cadence_record_table", "rate", 165.0),
        (
            "CyclingPedalingCadenceRecordTable",
            "cycling_pedaling_cadence_record_table",
            "revolutions_per_minute",
            88.0,
        ),
    ):
        record = b.intervals(parent, samsung, [(t, t + 3 * MINUTE, CEST, {})], watch)[0]
        b.children(
            child, record, [{column: value + i, "epoch_millis": t + i * MINUTE} for i in range(3)]
        )
    run_start = T0 + 17 * HOUR
    run, swim = b.intervals(
        "exercise_session_record_table",
        samsung,
        [
            (
                run_start,
                run_start + 30 * MINUTE,
                CEST,
                {"exercise_type": 33, "title": "Evening run", "notes": None, "has_route": 1},
            ),
            (
                run_start + DAY,
                run_start + DAY + HOUR,
                CEST,
                {"exercise_type": 49, "title": None, "notes": "pool", "has_route": 0},
            ),
        ],
        watch,
    )
    b.children(
        "exercise_route_table",
        run,
        [
            {
                "timestamp_millis": run_start + i * MINUTE,
                "latitude": 59.33 + i / 1000,
                "longitude": 18.06,
                "horizontal_accuracy": 3.0,
                "vertical_accuracy": 5.0,
                "altitude": 20.0 + i,
            }
            for i in range(30)
        ],
    )
    b.children(
        "exercise_laps_table",
        run,
        [
            {
                "lap_start_time": run_start + i * 10 * MINUTE,
                "lap_end_time": run_start + (i + 1) * 10 * MINUTE,
                "lap_length": 1000.0,
            }
            for i in range(3)
        ],
    )
    b.children(
        "exercise_segments_table",
        swim,
        [
            {
                "segment_start_time": run_start + DAY,
                "segment_end_time": run_start + DAY + HOUR,
                "segment_type": 56,
                "repetitions_count": 0,
            }
        ],
    )
    return b.close()
