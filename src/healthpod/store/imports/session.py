"""The state of one import being written: its connection, person and import, id caches, the
tally of what it added, and what the daily summaries have caught up with (`summarizing`).

Every insert goes through `ImportSession.insert_new`, which relies on the tables' natural-key
unique constraints (`INSERT … ON CONFLICT DO NOTHING` on both engines), so importing the same
data twice adds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from healthpod.store import schema
from healthpod.store.imports.items import CarriedMark, CarriedRestriction, SourceRef, Warning_
from healthpod.store.person_data import Writer, owner_writer
from healthpod.store.sample_columns import Columns

if TYPE_CHECKING:
    from healthpod.store.pg_copy import Staging


class DailySummaries(Protocol):
    """What computes the daily rows (`insights.summaries` is one: pass the module)."""

    def refresh_days(
        self,
        write: Writer,
        ranges: Mapping[str, tuple[int, int]],
        held: Mapping[str, Columns] | None = None,
        /,
    ) -> None:
        """Recompute the daily rows of each type code for the UTC range given."""
        ...


class Held:
    """The quantity samples of one type this import added, in the order they came."""

    def __init__(self) -> None:
        self.parts: list[Columns] = []
        self.count = 0

    def add(self, part: Columns) -> None:
        self.parts.append(part)
        self.count += len(part)

    def columns(self) -> Columns:
        if len(self.parts) == 1:
            return self.parts[0]
        start, end, offset, source, value = (
            np.concatenate([getattr(p, name) for p in self.parts])
            for name in ("start", "end", "offset_min", "source", "value")
        )
        return Columns(start, end, offset, source, value)


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
        self.owner = owner_writer(conn, person_id)  # the person's own door, in this transaction
        self.tally = Tally()
        self.summary = SummaryState()
        self._sources: dict[str, int] = {}
        self._devices: dict[str, int] = {}
        self._types: dict[str, int] = {}
        # A record inside a Correlation usually stands at top level too (but not always). The
        # natural keys of both kinds seen in this import let each be stored and counted once.
        self.correlated_keys: set[tuple[Any, ...]] = set()
        self.top_level_keys: set[tuple[Any, ...]] = set()
        # Marks and restrictions from another pod, set once every row is written (`carried`).
        self.carried: list[CarriedMark | CarriedRestriction] = []

    # -- inserts --------------------------------------------------------------------------
    def staging(self) -> Staging:
        """PostgreSQL's COPY path for many rows at once (`pg_copy`), made on first use."""
        from healthpod.store.pg_copy import Staging

        return Staging.of(self.conn)

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

    def type_id_of(self, code: str) -> int | None:
        """The id of a stored type, or None (never created here)."""
        cached = self._types.get(code)
        if cached is not None:
            return cached
        found = self.conn.scalar(
            select(schema.sample_types.c.id).where(schema.sample_types.c.code == code)
        )
        return None if found is None else int(found)

    def count(self, type_code: str, added: int, offered: int) -> None:
        if added:
            self.tally.added[type_code] += added
            self.summary.added[type_code] += added
            self.summary.clean.pop(type_code, None)  # its daily rows are stale again
        if offered > added:
            self.tally.present[type_code] += offered - added
