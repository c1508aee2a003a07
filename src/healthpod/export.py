"""Everything of one person as one zip: FHIR R4 NDJSON plus CSV, with a manifest of counts.

    fhir/Patient.ndjson           the person (then any Patient record from healthcare)
    fhir/Observation.ndjson       every stored sample, rendered as the FHIR API renders it,
                                  then the Observations from healthcare
    fhir/<Type>.ndjson            the other records from healthcare, as stored
    csv/<table>.csv               the person's rows of each table, columns as stored, and
                                  csv/sample_types.csv for what the type_id columns mean
    manifest.json                 how many lines each file has, and when it was made

Rows are streamed from the database into the zip file on disk, so memory stays flat however
large the pod is.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Table, select

from healthpod import __version__
from healthpod.fhir import render
from healthpod.store import schema
from healthpod.store.observations import SampleRow

BATCH = 2000
# The person's tables written as CSV (secrets such as password and token hashes are left out).
CSV_TABLES: tuple[Table, ...] = (
    schema.sources,
    schema.source_type_priorities,
    schema.devices,
    schema.imports,
    schema.quantity_samples,
    schema.category_samples,
    schema.correlations,
    schema.workouts,
    schema.activity_summaries,
    schema.daily_summaries,
    schema.consents,
    schema.consent_history,
    schema.access_log,
)
LEFT_OUT_COLUMNS = {"password_hash", "token_hash", "code_hash", "client_secret_hash"}


def write_export(conn: Connection, person_id: int, target: Path) -> dict[str, int]:
    """Write the person's export zip to `target`; returns the manifest's line counts."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Our own renderings first, then the stored records of the same type, one file per
        # type as in a Bulk Data export (a Synthea record brings its own Patient, say).
        ours: dict[str, Iterable[Any]] = {
            "Patient": _patient(conn, person_id),
            "Observation": _observations(conn, person_id),
        }
        for resource_type in sorted(set(ours) | set(_resource_types(conn, person_id))):
            name = f"fhir/{resource_type}.ndjson"
            counts[name] = _write_lines(
                archive,
                name,
                itertools.chain(
                    ours.get(resource_type, ()), _resources(conn, person_id, resource_type)
                ),
            )
        for table in CSV_TABLES:
            name = f"csv/{table.name}.csv"
            counts[name] = _write_csv(archive, name, conn, table, person_id)
        # The samples' type_id means these codes; the table is shared, so it is written whole.
        counts["csv/sample_types.csv"] = _write_csv(
            archive, "csv/sample_types.csv", conn, schema.sample_types, None
        )
        manifest = {
            "generator": f"healthpod {__version__}",
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "person_id": person_id,
            "files": counts,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return counts


def _write_lines(archive: zipfile.ZipFile, name: str, documents: Iterable[Any]) -> int:
    count = 0
    with archive.open(name, "w") as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        for document in documents:
            out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
        out.flush()
        out.detach()
    return count


def _write_csv(
    archive: zipfile.ZipFile, name: str, conn: Connection, table: Table, person_id: int | None
) -> int:
    columns = [c for c in table.c if c.name not in LEFT_OUT_COLUMNS]
    count = 0
    with archive.open(name, "w") as raw:
        out: IO[str] = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(out)
        writer.writerow([c.name for c in columns])
        query = select(*columns)
        if person_id is not None:
            query = query.where(table.c.person_id == person_id)
        for row in _stream(conn, query):
            writer.writerow([_cell(value) for value in row])
            count += 1
        out.flush()
        out.detach()  # type: ignore[attr-defined]
    return count


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _stream(conn: Connection, query: Any) -> Iterator[Any]:
    # Per statement: Connection.execution_options would make every later statement stream too.
    yield from conn.execute(query.execution_options(yield_per=BATCH))


def _patient(conn: Connection, person_id: int) -> Iterator[dict[str, Any]]:
    p = schema.persons
    row = conn.execute(select(p.c.name, p.c.birth_date, p.c.sex).where(p.c.id == person_id)).first()
    if row is not None:
        birth = row.birth_date.isoformat() if row.birth_date else None
        yield render.patient(str(person_id), row.name, birth, row.sex)


def _observations(conn: Connection, person_id: int) -> Iterator[dict[str, Any]]:
    """Every quantity and category sample as an Observation, as the FHIR API renders it."""
    st, src = schema.sample_types, schema.sources
    for kind, table in (("q", schema.quantity_samples), ("c", schema.category_samples)):
        value_columns = [table.c.value, table.c.unit] if kind == "q" else [table.c.value_code]
        query = (
            select(
                table.c.id,
                st.c.code,
                table.c.start_ms,
                table.c.end_ms,
                table.c.start_offset_min,
                table.c.end_offset_min,
                table.c.created_ms,
                src.c.name,
                *value_columns,
            )
            .join(st, st.c.id == table.c.type_id)
            .join(src, src.c.id == table.c.source_id)
            .where(table.c.person_id == person_id)
            .order_by(table.c.id)
        )
        for row in _stream(conn, query):
            sample = SampleRow(
                kind=kind,
                id=int(row[0]),
                type_code=str(row[1]),
                start_ms=int(row[2]),
                end_ms=int(row[3]),
                start_offset_min=int(row[4]),
                end_offset_min=int(row[5]),
                updated_ms=int(row[6] or row[3]),
                value=float(row[8]) if kind == "q" else 0.0,
                unit=str(row[9]) if kind == "q" else "",
                value_code=str(row[8]) if kind == "c" else "",
                source_name=row[7],
            )
            yield render.sample_observation(sample, str(person_id))


def _resource_types(conn: Connection, person_id: int) -> list[str]:
    r = schema.resources
    query = select(r.c.resource_type).where(r.c.person_id == person_id).distinct()
    return sorted(str(t) for t in conn.scalars(query))


def _resources(conn: Connection, person_id: int, resource_type: str) -> Iterator[Any]:
    r = schema.resources
    query = (
        select(r.c.json)
        .where(r.c.person_id == person_id, r.c.resource_type == resource_type)
        .order_by(r.c.id)
    )
    for (document,) in _stream(conn, query):
        yield document
