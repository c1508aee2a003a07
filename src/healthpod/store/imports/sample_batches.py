"""Writing a `SampleBatch`: thousands of samples per statement, ids resolved once per batch.

On SQLite the columns go straight to the driver, many rows to a statement (`sqlite_bulk`;
SQLAlchemy's per-row parameter processing would cost more than the insert); on PostgreSQL
they go by binary COPY into a staging table and one de-duplicating insert (`pg_copy`). Both
rely on the natural-key unique constraint for de-duplication.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from healthpod.store import schema
from healthpod.store.imports import summarizing
from healthpod.store.imports.items import SampleBatch, SourceRef
from healthpod.store.imports.sqlite_bulk import insert_columns
from healthpod.store.sample_columns import Columns

if TYPE_CHECKING:
    from healthpod.store.imports.session import ImportSession

CORRELATED_PREFIXES = ("blood_pressure_", "dietary_", "HKQuantityTypeIdentifierDietary")


def can_be_correlated(type_code: str) -> bool:
    """Types that Correlations group: blood pressure, and the nutrients of a food entry."""
    return type_code.startswith(CORRELATED_PREFIXES)


def write_sample_batches(session: ImportSession, batches: Sequence[SampleBatch]) -> None:
    for batch in batches:
        _write(session, batch)


def _listed(b: SampleBatch) -> SampleBatch:
    """The batch with its number arrays as lists of Python numbers, as the drivers take them."""
    arrays = {
        name: value.tolist()
        for name in _NUMBERS
        if isinstance(value := getattr(b, name), np.ndarray)
    }
    return replace(b, **arrays) if arrays else b


_NUMBERS = ("start_ms", "end_ms", "start_offset_min", "end_offset_min", "values", "created_ms")


def _write(session: ImportSession, b: SampleBatch) -> None:
    given = b  # its arrays, for `summarizing.hold`
    b = _listed(b)
    type_ids = [session.type_id(k.code, kind=k.kind, unit=k.unit, known=k.known) for k in b.keys]
    for key in b.keys:
        if not key.known:
            session.tally.unknown_types.add(key.code)
    source_ids = [session.source_id(SourceRef(name)) for name in b.sources]
    device_ids = session.device_ids(b.devices)
    keep = _not_stored_with_a_correlation(session, b)
    groups: dict[int, list[int] | None]  # key -> its rows (None: every row of the batch)
    if keep is None and len(b.keys) == 1:
        groups = {0: None}
    else:
        groups = defaultdict(list)
        for row, (k, wanted) in enumerate(zip(b.key_index, keep or repeat(True), strict=False)):
            if wanted:
                groups[k].append(row)  # type: ignore[union-attr]
    for k, rows in groups.items():
        key = b.keys[k]

        def pick(column: Any, rows: list[int] | None = rows) -> list[Any]:
            return column if rows is None else [column[r] for r in rows]

        start_ms, end_ms = pick(b.start_ms), pick(b.end_ms)
        n = len(start_ms)
        columns = {
            "start_ms": start_ms,
            "end_ms": end_ms,
            "created_ms": pick(b.created_ms),
            "value" if key.kind == "quantity" else "value_code": pick(b.values),
        }
        maybe_constant = {
            "start_offset_min": pick(b.start_offset_min),
            "end_offset_min": pick(b.end_offset_min),
            "source_id": _mapped(pick(b.source_index), source_ids),
            "source_version": _mapped(pick(b.version_index), b.versions),
            "device_id": _mapped(pick(b.device_index), device_ids),
        }
        constants: dict[str, Any] = {
            "person_id": session.person_id,
            "type_id": type_ids[k],
            "import_id": session.import_id,
            "correlation_id": None,
        }
        if key.kind == "quantity":
            constants["unit"] = key.unit
        table = schema.quantity_samples if key.kind == "quantity" else schema.category_samples
        holding = key.kind == "quantity" and summarizing.may_hold(session, key.code, type_ids[k])
        metas = pick(b.meta)
        if session.conn.dialect.name == "sqlite":
            maybe_constant["meta"] = metas
            raw = session.conn.connection.driver_connection
            added = insert_columns(raw, table.name, constants, columns, maybe_constant)
        else:
            added = session.staging().insert_new(
                table, constants, {**columns, **maybe_constant, "meta": metas}, json_texts=["meta"]
            )
        session.count(key.code, added, n)
        if holding:
            summarizing.hold(session, key.code, _held_rows(given, rows, source_ids), added)
        if added:
            session.summary.note(key.code, added, min(start_ms), max(end_ms))


def _held_rows(b: SampleBatch, rows: list[int] | None, source_ids: list[int]) -> Columns:
    """The quantity rows written, as `summarizing.hold` keeps them (arrays, source ids)."""
    index = slice(None) if rows is None else np.asarray(rows, dtype=np.intp)
    if isinstance(b.values, np.ndarray):
        values = b.values[index]
    else:  # a list that may hold category rows' codes too
        values = np.asarray(b.values if rows is None else [b.values[r] for r in rows])
    return Columns(
        np.asarray(b.start_ms, dtype=np.int64)[index],
        np.asarray(b.end_ms, dtype=np.int64)[index],
        np.asarray(b.start_offset_min, dtype=np.int64)[index],
        np.asarray(source_ids, dtype=np.int64)[np.asarray(b.source_index, dtype=np.intp)][index],
        values.astype(np.float64, copy=False),
    )


def _mapped(index: list[int], values: list[Any]) -> list[Any]:
    """The values an index column points to (one value: without looking each up)."""
    if len(values) == 1:
        return values * len(index)
    return list(map(values.__getitem__, index))


def _not_stored_with_a_correlation(session: ImportSession, b: SampleBatch) -> list[bool] | None:
    """Which rows to write, when some may already be stored inside a Correlation; else None."""
    watched = {k for k, key in enumerate(b.keys) if can_be_correlated(key.code)}
    if not watched:
        return None
    keep = []
    for row, k in enumerate(b.key_index):
        if k not in watched:
            keep.append(True)
            continue
        natural = (
            b.keys[k].code,
            b.start_ms[row],
            b.end_ms[row],
            b.sources[b.source_index[row]],
            b.values[row],
        )
        keep.append(natural not in session.correlated_keys)
        session.top_level_keys.add(natural)
    return keep
