"""Writing a `SampleBatch`: thousands of samples per statement, ids resolved once per batch.

On SQLite the rows go straight to the driver's `executemany` as tuples (SQLAlchemy's per-row
parameter processing would cost more than the insert); on PostgreSQL they go through
`ImportSession.insert_new`. Both rely on the natural-key unique constraint for de-duplication.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

from healthpod.ingest.base import SampleBatch, SourceRef
from healthpod.store import schema

if TYPE_CHECKING:
    from healthpod.ingest.writers import ImportSession

CORRELATED_PREFIXES = ("blood_pressure_", "dietary_", "HKQuantityTypeIdentifierDietary")
COLUMNS = (
    "person_id",
    "type_id",
    "start_ms",
    "end_ms",
    "start_offset_min",
    "end_offset_min",
    "source_id",
    "source_version",
    "device_id",
    "created_ms",
    "import_id",
    "correlation_id",
    "meta",
)


def can_be_correlated(type_code: str) -> bool:
    """Types that Correlations group: blood pressure, and the nutrients of a food entry."""
    return type_code.startswith(CORRELATED_PREFIXES)


def _sql(table: str, value_columns: tuple[str, ...]) -> str:
    columns = (*COLUMNS, *value_columns)
    marks = ", ".join("?" * len(columns))
    # Table and column names are our own constants, never input.
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        " ON CONFLICT DO NOTHING"
    )


QUANTITY_SQL = _sql(schema.quantity_samples.name, ("value", "unit"))
CATEGORY_SQL = _sql(schema.category_samples.name, ("value_code",))
_json_cache: dict[tuple[tuple[str, Any], ...], str] = {}


def _meta_json(meta: dict[str, Any] | None) -> str | None:
    """JSON text for SQLite; the common small all-text metadata dicts are cached."""
    if meta is None:
        return None
    items = tuple(meta.items())
    if all(type(v) is str for _, v in items):
        found = _json_cache.get(items)
        if found is None:
            found = json.dumps(meta)
            if len(_json_cache) < 10_000:
                _json_cache[items] = found
        return found
    return json.dumps(meta)


def _meta_texts(metas: list[dict[str, Any] | None]) -> list[str | None]:
    """JSON text per row; rows sharing one metadata dict (the importers share repeats) share
    one encoding."""
    encoded: dict[int, str | None] = {}
    texts: list[str | None] = []
    for meta in metas:
        if meta is None:
            texts.append(None)
            continue
        text = encoded.get(id(meta))
        if text is None:
            text = encoded[id(meta)] = _meta_json(meta)
        texts.append(text)
    return texts


def write_sample_batches(session: ImportSession, batches: Sequence[SampleBatch]) -> None:
    for batch in batches:
        _write(session, batch)


def _write(session: ImportSession, b: SampleBatch) -> None:
    type_ids = [session.type_id(k.code, kind=k.kind, unit=k.unit, known=k.known) for k in b.keys]
    for key in b.keys:
        if not key.known:
            session.tally.unknown_types.add(key.code)
    source_ids = [session.source_id(SourceRef(name)) for name in b.sources]
    device_ids = session.device_ids(b.devices)
    keep = _not_stored_with_a_correlation(session, b)
    sqlite = session.conn.dialect.name == "sqlite"
    columns: list[Any] = [
        repeat(session.person_id),
        [type_ids[k] for k in b.key_index],
        b.start_ms,
        b.end_ms,
        b.start_offset_min,
        b.end_offset_min,
        [source_ids[i] for i in b.source_index],
        [b.versions[i] for i in b.version_index],
        [device_ids[i] for i in b.device_index],
        b.created_ms,
        repeat(session.import_id),
        repeat(None),
        _meta_texts(b.meta) if sqlite else b.meta,
        b.values,
        [b.keys[k].unit for k in b.key_index],  # dropped again for category rows
    ]
    groups: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    if keep is None and len(b.keys) == 1:
        groups[0] = list(zip(*columns, strict=False))
    else:
        rows_and_keys = zip(zip(*columns, strict=False), b.key_index, strict=False)
        for (row, k), wanted in zip(rows_and_keys, keep or repeat(True), strict=False):
            if wanted:
                groups[k].append(row)
    for k, rows in groups.items():
        key = b.keys[k]
        quantity = key.kind == "quantity"
        if not quantity:
            rows = [row[:-1] for row in rows]
        if sqlite:
            cursor = session.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany(QUANTITY_SQL if quantity else CATEGORY_SQL, rows)
            added = int(cursor.rowcount)
            cursor.close()
        else:
            names = (*COLUMNS, "value", "unit") if quantity else (*COLUMNS, "value_code")
            table = schema.quantity_samples if quantity else schema.category_samples
            added = session.insert_new(table, [dict(zip(names, row, strict=True)) for row in rows])
        session.count(key.code, added, len(rows))
        if added:
            session.summary.note(key.code, added, min(r[2] for r in rows), max(r[3] for r in rows))


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
