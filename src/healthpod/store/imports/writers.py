"""Writing parsed items into the store: one writer per item class, inside one import transaction.

`WRITERS` maps an item class (`items`) to the function that stores a batch of them; a new
item type gets its writer with `register_writer` (as `clinical_resources` does for FHIR
resources). `write_items` hands an import's items to them.
Every insert goes through `ImportSession.insert_new`, which relies on the tables' natural-key
unique constraints (`INSERT … ON CONFLICT DO NOTHING` on both engines), so importing the same
data twice adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, select, update

from healthpod.store import schema
from healthpod.store.imports import carried, pod_tables
from healthpod.store.imports.items import (
    ActivitySummary,
    CarriedMark,
    CarriedRestriction,
    CarriedTombstone,
    CategoryValue,
    ClinicalResource,
    Correlation,
    DeviceInfo,
    ExportInfo,
    HistoryRecord,
    Item,
    PersonInfo,
    Quantity,
    RouteFile,
    Sample,
    SampleBatch,
    SampleTypeInfo,
    SourceInfo,
    TypePriority,
    Warning_,
    Workout,
)
from healthpod.store.imports.route_files import write_route_files
from healthpod.store.imports.sample_batches import can_be_correlated, write_sample_batches
from healthpod.store.imports.session import ImportSession

BATCH = 5000  # items of one kind handed to their writer at a time
WORKOUT_TYPE = "workout"
ACTIVITY_SUMMARY_TYPE = "activity_summary"


ItemT = TypeVar("ItemT")
Writer = Callable[[ImportSession, Sequence[Any]], None]
WRITERS: dict[type, Writer] = {}


def register_writer(
    item_class: type[ItemT], writer: Callable[[ImportSession, Sequence[ItemT]], None]
) -> None:
    """Make `writer` store batches of `item_class` (used by importers that add item types)."""
    WRITERS[item_class] = writer


# -- samples ---------------------------------------------------------------------------------
def sample_key(sample: Sample) -> tuple[Any, ...]:
    value = sample.value if isinstance(sample, Quantity) else sample.value_code
    return (sample.type_code, sample.start_ms, sample.end_ms, sample.source.name, value)


def _sample_row(
    session: ImportSession, sample: Sample, correlation_id: int | None
) -> dict[str, Any]:
    value: float | str
    if isinstance(sample, Quantity):
        kind, unit, value_column, value = "quantity", sample.unit, "value", sample.value
    else:
        kind, unit, value_column, value = "category", "", "value_code", sample.value_code
    if not sample.known:
        session.tally.unknown_types.add(sample.type_code)
    row: dict[str, Any] = {
        "person_id": session.person_id,
        "type_id": session.type_id(sample.type_code, kind=kind, unit=unit, known=sample.known),
        "start_ms": sample.start_ms,
        "end_ms": sample.end_ms,
        "start_offset_min": sample.start_offset_min,
        "end_offset_min": sample.end_offset_min,
        "source_id": session.source_id(sample.source),
        "source_version": sample.source_version,
        "device_id": session.device_id(sample.device),
        "created_ms": sample.created_ms,
        "import_id": session.import_id,
        "correlation_id": correlation_id,
        "meta": sample.meta,
        value_column: value,
    }
    if isinstance(sample, Quantity):
        row["unit"] = unit
    return row


def _table_for(sample: Sample) -> Table:
    return schema.quantity_samples if isinstance(sample, Quantity) else schema.category_samples


def write_samples(session: ImportSession, samples: Sequence[Sample]) -> None:
    """Store samples; group by type so the per-type count comes from each insert's row count."""
    by_type: dict[tuple[type, str], list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        if can_be_correlated(sample.type_code):
            key = sample_key(sample)
            if key in session.correlated_keys:
                continue  # already stored and counted as part of its Correlation
            session.top_level_keys.add(key)
        by_type[(type(sample), sample.type_code)].append(_sample_row(session, sample, None))
    for (cls, code), rows in by_type.items():
        table = schema.quantity_samples if cls is Quantity else schema.category_samples
        session.count(code, session.insert_new(table, rows), len(rows))


def _link_existing(session: ImportSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Link the already stored twins of correlations' records to their correlations (a row
    that was just inserted already has its correlation)."""
    value_column = "value" if table is schema.quantity_samples else "value_code"
    names = ("person_id", "type_id", "start_ms", "end_ms", "source_id", value_column)
    session.conn.execute(
        update(table)
        .where(
            *(table.c[name] == bindparam(f"k_{name}") for name in names),
            table.c.correlation_id.is_(None),
        )
        .values(correlation_id=bindparam("k_correlation_id")),
        [{f"k_{name}": row[name] for name in (*names, "correlation_id")} for row in rows],
    )


def _correlation_ids(
    session: ImportSession, rows: list[dict[str, Any]]
) -> dict[tuple[Any, ...], int]:
    """The stored ids of correlations by natural key (type, start, end, source)."""
    c = schema.correlations
    found: dict[tuple[Any, ...], int] = {}
    for type_code in {row["type_code"] for row in rows}:
        starts = [row["start_ms"] for row in rows if row["type_code"] == type_code]
        query = select(c.c.id, c.c.start_ms, c.c.end_ms, c.c.source_id).where(
            c.c.person_id == session.person_id,
            c.c.type_code == type_code,
            c.c.start_ms >= min(starts),
            c.c.start_ms <= max(starts),
        )
        for id_, start_ms, end_ms, source_id in session.conn.execute(query):
            found[(type_code, start_ms, end_ms, source_id)] = int(id_)
    return found


def write_correlations(session: ImportSession, correlations: Sequence[Correlation]) -> None:
    """Store each correlation once and its records linked to it, a batch in a few statements
    (an export's correlations come after its records, at the end of the import)."""
    rows: list[dict[str, Any]] = [
        {
            "person_id": session.person_id,
            "type_code": corr.type_code,
            "start_ms": corr.start_ms,
            "end_ms": corr.end_ms,
            "start_offset_min": corr.start_offset_min,
            "end_offset_min": corr.end_offset_min,
            "source_id": session.source_id(corr.source),
            "source_version": corr.source_version,
            "device_id": session.device_id(corr.device),
            "created_ms": corr.created_ms,
            "import_id": session.import_id,
            "meta": corr.meta,
        }
        for corr in correlations
    ]
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_type[row["type_code"]].append(row)
    for type_code, same in by_type.items():
        session.count(type_code, session.insert_new(schema.correlations, same), len(same))
    ids = _correlation_ids(session, rows)
    # Per table and type, and apart the records whose top-level twin this import stored
    # (counted there already): each group's insert then counts what it added.
    groups: dict[tuple[Table, str, bool], list[dict[str, Any]]] = defaultdict(list)
    for corr, row in zip(correlations, rows, strict=True):
        corr_id = ids[(row["type_code"], row["start_ms"], row["end_ms"], row["source_id"])]
        for sample in corr.samples:
            key = sample_key(sample)
            session.correlated_keys.add(key)
            twin = key in session.top_level_keys
            groups[(_table_for(sample), sample.type_code, twin)].append(
                _sample_row(session, sample, corr_id)
            )
    for (table, type_code, twin), sample_rows in groups.items():
        added = session.insert_new(table, sample_rows)
        session.count(type_code, added, added if twin else len(sample_rows))
        if added < len(sample_rows):
            _link_existing(session, table, sample_rows)


def write_workouts(session: ImportSession, workouts: Sequence[Workout]) -> None:
    rows = [
        {
            "person_id": session.person_id,
            "activity_type": w.activity_type,
            "start_ms": w.start_ms,
            "end_ms": w.end_ms,
            "start_offset_min": w.start_offset_min,
            "end_offset_min": w.end_offset_min,
            "duration_s": w.duration_s,
            "distance_km": w.distance_km,
            "energy_kcal": w.energy_kcal,
            "source_id": session.source_id(w.source),
            "source_version": w.source_version,
            "device_id": session.device_id(w.device),
            "created_ms": w.created_ms,
            "import_id": session.import_id,
            "meta": w.meta,
            "events": w.events,
            "statistics": w.statistics,
            "route": w.route,
            "original": w.original,
        }
        for w in workouts
    ]
    session.count(WORKOUT_TYPE, session.insert_new(schema.workouts, rows), len(rows))


def write_activity_summaries(session: ImportSession, summaries: Sequence[ActivitySummary]) -> None:
    rows = [
        {
            "person_id": session.person_id,
            "date_on": s.date_on,
            "active_energy_kcal": s.active_energy_kcal,
            "active_energy_goal_kcal": s.active_energy_goal_kcal,
            "move_time_min": s.move_time_min,
            "move_time_goal_min": s.move_time_goal_min,
            "exercise_min": s.exercise_min,
            "exercise_goal_min": s.exercise_goal_min,
            "stand_hours": s.stand_hours,
            "stand_hours_goal": s.stand_hours_goal,
            "import_id": session.import_id,
            "meta": s.meta,
        }
        for s in summaries
    ]
    session.count(
        ACTIVITY_SUMMARY_TYPE, session.insert_new(schema.activity_summaries, rows), len(rows)
    )


def write_person_info(session: ImportSession, infos: Sequence[PersonInfo]) -> None:
    for info in infos:
        values: dict[str, Any] = {"characteristics": info.characteristics or None}
        if info.birth_date is not None:
            values["birth_date"] = info.birth_date
        if info.sex is not None:
            values["sex"] = info.sex
        if info.blood_type is not None:
            values["blood_type"] = info.blood_type
        session.conn.execute(
            update(schema.persons).where(schema.persons.c.id == session.person_id).values(values)
        )
        if info.time_zone is not None:  # the zone this pod's person set themselves stays
            p = schema.persons
            session.conn.execute(
                update(p)
                .where(p.c.id == session.person_id, p.c.time_zone.is_(None))
                .values(time_zone=info.time_zone)
            )
        if info.language is not None:  # likewise the language the person chose here stays
            p = schema.persons
            session.conn.execute(
                update(p)
                .where(p.c.id == session.person_id, p.c.language.is_(None))
                .values(language=info.language)
            )


def write_export_info(session: ImportSession, infos: Sequence[ExportInfo]) -> None:
    for info in infos:
        if info.export_ms is not None:
            session.tally.export_ms = info.export_ms
        session.tally.references.extend(info.references)


def write_warnings(session: ImportSession, warnings: Sequence[Warning_]) -> None:
    session.tally.warnings.extend(warnings)


register_writer(Quantity, write_samples)
register_writer(CategoryValue, write_samples)
register_writer(SampleBatch, write_sample_batches)
register_writer(Correlation, write_correlations)
register_writer(Workout, write_workouts)
register_writer(ActivitySummary, write_activity_summaries)
register_writer(PersonInfo, write_person_info)
register_writer(ExportInfo, write_export_info)
register_writer(Warning_, write_warnings)


def write_clinical_resources(session: ImportSession, items: Sequence[ClinicalResource]) -> None:
    """FHIR resources from healthcare (`clinical_resources`, loaded with the first of them)."""
    from healthpod.store.imports import clinical_resources

    clinical_resources.write_clinical_resources(session, items)


register_writer(ClinicalResource, write_clinical_resources)
register_writer(RouteFile, write_route_files)
register_writer(SampleTypeInfo, pod_tables.write_sample_types)
register_writer(SourceInfo, pod_tables.write_sources)
register_writer(DeviceInfo, pod_tables.write_devices)
register_writer(TypePriority, pod_tables.write_type_priorities)
register_writer(HistoryRecord, pod_tables.write_history)
register_writer(CarriedTombstone, carried.write_tombstones)
register_writer(CarriedMark, carried.keep)
register_writer(CarriedRestriction, carried.keep)


def write_items(session: ImportSession, items: Iterable[Item]) -> None:
    """Hand items to their writers in batches of consecutive items with the same writer."""
    from healthpod.store.imports import summarizing

    pending: list[Any] = []
    current = None
    for item in items:
        writer = WRITERS.get(type(item))
        if writer is None:
            raise TypeError(f"no writer registered for {type(item).__name__}")
        if writer is not current or len(pending) >= BATCH or isinstance(item, SampleBatch):
            if pending and current is not None:
                current(session, pending)
            pending = []
            current = writer
        if isinstance(item, SampleBatch):  # already a batch: written at once, never held
            writer(session, [item])
            summarizing.summarize_finished(session, {key.code for key in item.keys})
            current = None
            continue
        pending.append(item)
    if pending and current is not None:
        current(session, pending)
