"""The tables. Every table that holds a person's data carries `person_id`.

Conventions: `*_ms` columns are instants in UTC as epoch milliseconds (integers keep imports and
daily statistics fast on both engines); `offset_min` is the local UTC offset the producer wrote
for that instant, so "a day" can be the person's local day; `*_on` is a local date; JSON columns
keep every key a producer wrote (metadata, statistics, events) so nothing is dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only treats INTEGER PRIMARY KEY as the rowid alias; PostgreSQL needs 64 bits for samples.
BigId = BigInteger().with_variant(Integer, "sqlite")


def _person() -> Column[int]:
    return Column("person_id", ForeignKey("persons.id", ondelete="CASCADE"), nullable=False)


persons = Table(
    "persons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("birth_date", Date),
    Column("sex", String(40)),
    Column("blood_type", String(40)),
    Column("characteristics", JSON),  # every attribute of Apple's <Me>, as written
    Column("created_ms", BigInteger, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("name", String(500), nullable=False),  # exact characters, U+00A0 included
    Column("kind", String(20), nullable=False, server_default="app"),  # app|device|healthcare
    Column("bundle_id", String(500)),
    # Lower number wins when samples of several sources overlap (1 = first in the list, like
    # the Health app's ordered source list).
    Column("priority", Integer, nullable=False, server_default="100"),
    UniqueConstraint("person_id", "name"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("description", Text, nullable=False),  # Apple's "<<HKDevice: …>, name:…>" string
    UniqueConstraint("person_id", "description"),
)

sample_types = Table(
    "sample_types",
    metadata,
    Column("id", Integer, primary_key=True),
    # Our code for known types (see healthpod.ingest.vocabulary), or the producer's identifier
    # (e.g. HKQuantityTypeIdentifier…) for a type we do not know yet.
    Column("code", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # quantity|category
    Column("unit", String(100)),  # canonical UCUM unit; the original unit for unknown types
    Column("known", Integer, nullable=False, server_default="1"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    _person(),
    Column("filename", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("format", String(50), nullable=False),
    Column("status", String(20), nullable=False),  # completed|failed
    Column("added", JSON, nullable=False),  # {type_code: n}
    Column("already_present", Integer, nullable=False, server_default="0"),
    Column("unknown_types", JSON, nullable=False),
    Column("warnings", JSON, nullable=False),
    Column("references", JSON),  # files the export points to (clinical records, routes)
    Column("export_ms", BigInteger),
    Column("started_ms", BigInteger, nullable=False),
    Column("finished_ms", BigInteger),
    Column("error", Text),
    Index("ix_imports_person_started", "person_id", "started_ms"),
)


def _sample_columns() -> list[Column[Any]]:
    return [
        Column("id", BigId, primary_key=True),
        _person(),
        Column("type_id", ForeignKey("sample_types.id"), nullable=False),
        Column("start_ms", BigInteger, nullable=False),
        Column("end_ms", BigInteger, nullable=False),
        Column("start_offset_min", SmallInteger, nullable=False),
        Column("end_offset_min", SmallInteger, nullable=False),
        Column("source_id", ForeignKey("sources.id"), nullable=False),
        Column("source_version", String(200)),
        Column("device_id", ForeignKey("devices.id")),
        Column("created_ms", BigInteger),
        Column("import_id", ForeignKey("imports.id"), nullable=False),
        Column("correlation_id", ForeignKey("correlations.id")),
        Column("meta", JSON),
    ]


quantity_samples = Table(
    "quantity_samples",
    metadata,
    *_sample_columns(),
    Column("value", Float, nullable=False),
    Column("unit", String(100), nullable=False),
    # The natural key makes imports idempotent and is also the index for
    # "one person, one type, a time range".
    UniqueConstraint("person_id", "type_id", "start_ms", "source_id", "end_ms", "value"),
)

category_samples = Table(
    "category_samples",
    metadata,
    *_sample_columns(),
    Column(
        "value_code", String(200), nullable=False
    ),  # e.g. HKCategoryValueSleepAnalysisAsleepCore
    UniqueConstraint("person_id", "type_id", "start_ms", "source_id", "end_ms", "value_code"),
)

correlations = Table(
    "correlations",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("type_code", String(200), nullable=False),  # blood_pressure, food, or the HK identifier
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("start_offset_min", SmallInteger, nullable=False),
    Column("end_offset_min", SmallInteger, nullable=False),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("source_version", String(200)),
    Column("device_id", ForeignKey("devices.id")),
    Column("created_ms", BigInteger),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),
    UniqueConstraint("person_id", "type_code", "start_ms", "source_id", "end_ms"),
)

workouts = Table(
    "workouts",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("activity_type", String(200), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("start_offset_min", SmallInteger, nullable=False),
    Column("end_offset_min", SmallInteger, nullable=False),
    Column("duration_s", Float),
    Column("distance_km", Float),
    Column("energy_kcal", Float),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("source_version", String(200)),
    Column("device_id", ForeignKey("devices.id")),
    Column("created_ms", BigInteger),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),
    Column("events", JSON),  # WorkoutEvent elements, every attribute kept
    Column("statistics", JSON),  # WorkoutStatistics elements, every attribute kept
    Column("route", JSON),  # {"file": "/workout-routes/….gpx"} or {"locations": [...]}
    Column("original", JSON),  # the element's attributes as written (units before conversion)
    UniqueConstraint("person_id", "activity_type", "start_ms", "source_id", "end_ms"),
)

activity_summaries = Table(
    "activity_summaries",
    metadata,
    Column("id", BigId, primary_key=True),
    _person(),
    Column("date_on", Date, nullable=False),
    Column("active_energy_kcal", Float),
    Column("active_energy_goal_kcal", Float),
    Column("move_time_min", Float),
    Column("move_time_goal_min", Float),
    Column("exercise_min", Float),
    Column("exercise_goal_min", Float),
    Column("stand_hours", Float),
    Column("stand_hours_goal", Float),
    Column("import_id", ForeignKey("imports.id"), nullable=False),
    Column("meta", JSON),  # every attribute as written
    UniqueConstraint("person_id", "date_on"),
)
