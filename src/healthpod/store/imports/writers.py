"""Writing parsed items into the store: one writer per item class, inside one import transaction.

`WRITERS` maps an item class (`items`) to the function that stores a batch of them; a new
item type gets its writer with `register_writer` (as `clinical_resources` does for FHIR
resources). `write_items` hands an import's items to them.
Every insert goes through `ImportSession.insert_new`, which relies on the tables' natural-key
unique constraints (`INSERT … ON CONFLICT DO NOTHING` on both engines), so importing the same
data twice adds nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from healthpod.store import schema
from healthpod.store.imports.items import (
    ActivitySummary,
    CategoryValue,
    Correlation,
    ExportInfo,
    Item,
    PersonInfo,
    Quantity,
    Sample,
    SampleBatch,
    SourceRef,
    Warning_,
    Workout,
)
from healthpod.store.imports.sample_batches import can_be_correlated, write_sample_batches

if TYPE_CHECKING:
    from healthpod.store.imports.summarizing import DailySummaries, Held

BATCH = 5000  # items of one kind handed to their writer at a time
WORKOUT_TYPE = "workout"
ACTIVITY_SUMMARY_TYPE = "activity_summary"


@dataclass
class Tally:
    """What one import added, per type, and what it found already stored."""

    added: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)  # already stored before, per type
    unknown_types: set[str] = field(default_factory=set)
    warnings: list[Warning_] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    export_ms: int | None = None


@dataclass
class SummaryState:
    """Which types' daily summaries this import has brought up to date (see `summarizing`)."""

    pending: dict[str, tuple[int, int]] = field(default_factory=dict)  # added, not summarized
    clean: dict[str, tuple[int, int]] = field(default_factory=dict)  # summarized over a range
    early: set[str] = field(default_factory=set)  # summarized while the import ran
    added: Counter[str] = field(default_factory=Counter)  # samples added, by every writer
    noted: Counter[str] = field(default_factory=Counter)  # of those, the ones in `pending`
    held: dict[str, Held] = field(default_factory=dict)  # samples kept while all there is
    unheld: set[str] = field(default_factory=set)  # types whose samples are read back

    def note(self, type_code: str, added: int, start_ms: int, end_ms: int) -> None:
        """`added` samples of `type_code` were added between start_ms and end_ms."""
        lo, hi = self.pending.get(type_code, (start_ms, end_ms))
        self.pending[type_code] = (min(lo, start_ms), max(hi, end_ms))
        self.noted[type_code] += added

    def ranges_known(self, type_code: str) -> bool:
        """Whether every sample of the type this import added is within its noted range."""
        return self.added[type_code] == self.noted[type_code]


class ImportSession:
    """The connection, person and import a batch of items is written under, plus id caches."""

    def __init__(
        self,
        conn: Connection,
        *,
        person_id: int,
        import_id: int,
        summaries: DailySummaries | None = None,
    ) -> None:
        self.conn = conn
        self.person_id = person_id
        self.import_id = import_id
        self.summaries = summaries  # computes daily rows while the import runs (`summarizing`)
        self.tally = Tally()
        self.summary = SummaryState()
        self._sources: dict[str, int] = {}
        self._devices: dict[str, int] = {}
        self._types: dict[str, int] = {}
        # A record inside a Correlation usually stands at top level too (but not always). The
        # natural keys of both kinds seen in this import let each be stored and counted once.
        self.correlated_keys: set[tuple[Any, ...]] = set()
        self.top_level_keys: set[tuple[Any, ...]] = set()

    # -- inserts --------------------------------------------------------------------------
    def insert_new(self, table: Table, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows, skipping those whose natural key is stored; return how many were new."""
        if not rows:
            return 0
        if self.conn.dialect.name == "postgresql":
            # psycopg's executemany gives no row count; RETURNING lists only the new rows
            # (SQLAlchemy batches these into multi-row INSERTs).
            key = next(iter(table.primary_key.columns))
            stmt = postgresql.insert(table).on_conflict_do_nothing().returning(key)
            return len(self.conn.execute(stmt, list(rows)).all())
        # sqlite3's executemany sums the rows each statement inserted.
        result = self.conn.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))
        return int(result.rowcount)

    def insert_one_returning_id(self, table: Table, row: dict[str, Any]) -> int | None:
        """Insert one row and return its id, or None when its natural key is already stored."""
        dialect = self.conn.dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(table).values(row).on_conflict_do_nothing()
        else:
            stmt = sqlite.insert(table).values(row).on_conflict_do_nothing()
        found = self.conn.scalar(stmt.returning(table.c.id))
        return None if found is None else int(found)

    # -- lookups, created on first use --------------------------------------------------
    def source_id(self, ref: SourceRef) -> int:
        cached = self._sources.get(ref.name)
        if cached is not None:
            return cached
        self.insert_new(
            schema.sources,
            [
                {
                    "person_id": self.person_id,
                    "name": ref.name,
                    "kind": ref.kind,
                    "bundle_id": ref.bundle_id,
                }
            ],
        )
        found = self.conn.scalar(
            select(schema.sources.c.id).where(
                schema.sources.c.person_id == self.person_id, schema.sources.c.name == ref.name
            )
        )
        assert found is not None
        self._sources[ref.name] = int(found)
        return int(found)

    def device_id(self, description: str | None) -> int | None:
        if description is None:
            return None
        cached = self._devices.get(description)
        if cached is not None:
            return cached
        self.insert_new(schema.devices, [{"person_id": self.person_id, "description": description}])
        found = self.conn.scalar(
            select(schema.devices.c.id).where(
                schema.devices.c.person_id == self.person_id,
                schema.devices.c.description == description,
            )
        )
        assert found is not None
        self._devices[description] = int(found)
        return int(found)

    def device_ids(self, descriptions: Sequence[str | None]) -> list[int | None]:
        """Ids of many devices at once (created if new): two statements, not two per device."""
        missing = sorted({d for d in descriptions if d is not None and d not in self._devices})
        if missing:
            devices = schema.devices
            self.insert_new(
                devices, [{"person_id": self.person_id, "description": d} for d in missing]
            )
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                rows = self.conn.execute(
                    select(devices.c.description, devices.c.id).where(
                        devices.c.person_id == self.person_id, devices.c.description.in_(chunk)
                    )
                )
                self._devices.update({description: int(id_) for description, id_ in rows})
        return [None if d is None else self._devices[d] for d in descriptions]

    def type_id(self, code: str, *, kind: str, unit: str, known: bool) -> int:
        cached = self._types.get(code)
        if cached is not None:
            return cached
        self.insert_new(
            schema.sample_types,
            [{"code": code, "kind": kind, "unit": unit, "known": 1 if known else 0}],
        )
        found = self.conn.scalar(
            select(schema.sample_types.c.id).where(schema.sample_types.c.code == code)
        )
        assert found is not None
        self._types[code] = int(found)
        return int(found)

    def count(self, type_code: str, added: int, offered: int) -> None:
        if added:
            self.tally.added[type_code] += added
            self.summary.added[type_code] += added
            self.summary.clean.pop(type_code, None)  # its daily rows are stale again
        if offered > added:
            self.tally.present[type_code] += offered - added


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


def write_items(session: ImportSession, items: Iterable[Item]) -> None:
    """Hand items to their writers in batches of consecutive items with the same writer."""
    from healthpod.store.imports import (
        clinical_resources,  # noqa: F401  (registers the FHIR resources' writer)
        route_files,  # noqa: F401  (registers the route files' writer)
        summarizing,
    )

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
