"""Storing what only a healthpod export carries: types as written, sources with their order,
devices without samples, per-type source orders (`ingest.pod_export` yields these first)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from sqlalchemy import update

from healthpod.store import schema
from healthpod.store.imports.items import (
    DeviceInfo,
    HistoryRecord,
    SampleTypeInfo,
    SourceInfo,
    SourceRef,
    TypePriority,
)
from healthpod.store.imports.session import ImportSession


def write_sample_types(session: ImportSession, types: Sequence[SampleTypeInfo]) -> None:
    for t in types:
        session.type_id(t.code, kind=t.kind, unit=t.unit, known=t.known)


def write_sources(session: ImportSession, sources: Sequence[SourceInfo]) -> None:
    """Create each source (kind and bundle id as written) and give it its priority."""
    s = schema.sources
    for info in sources:
        source_id = session.source_id(info.source)
        session.conn.execute(
            update(s)
            .where(s.c.id == source_id, s.c.priority != info.priority)
            .values(priority=info.priority)
        )


def write_devices(session: ImportSession, devices: Sequence[DeviceInfo]) -> None:
    session.device_ids([d.description for d in devices])


def write_type_priorities(session: ImportSession, orders: Sequence[TypePriority]) -> None:
    """Per-type source orders; one already set for the same type and source is kept."""
    rows = []
    for order in orders:
        type_id = session.type_id_of(order.type_code)
        if type_id is None:
            continue
        rows.append(
            {
                "person_id": session.person_id,
                "type_id": type_id,
                "source_id": session.source_id(SourceRef(order.source_name)),
                "priority": order.priority,
            }
        )
    session.insert_new(schema.source_type_priorities, rows)


def write_history(session: ImportSession, records: Sequence[HistoryRecord]) -> None:
    """Keep another pod's records read-only; one already kept (same kind and content) is not
    kept twice."""
    rows = []
    for item in records:
        canonical = json.dumps(item.record, sort_keys=True, separators=(",", ":"))
        rows.append(
            {
                "person_id": session.person_id,
                "kind": item.kind,
                "record": item.record,
                "record_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
                "import_id": session.import_id,
            }
        )
    added = session.insert_new(schema.moved_history, rows)
    session.count("history", added, len(rows))
