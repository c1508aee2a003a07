"""Everything of one person as one zip: FHIR R4 NDJSON plus CSV, with a manifest of counts.

    fhir/Patient.ndjson           the person (then any Patient record from healthcare)
    fhir/Observation.ndjson       every stored sample, rendered as the FHIR API renders it
                                  (blood pressure as one 85354-9 panel), then the
                                  Observations from healthcare
    fhir/<Type>.ndjson            the other records from healthcare, as stored
    csv/<table>.csv               the person's rows of each table, columns as stored, and
                                  csv/sample_types.csv for what the type_id columns mean
    manifest.json                 how many lines each file has, and when it was made

Everything is read through the person's own door (`PersonData`) and streamed page by page into
the zip file on disk, so memory stays flat however large the pod is.
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
from typing import Any

from healthpod import __version__
from healthpod.fhir import render
from healthpod.store.observations import SampleFilter
from healthpod.store.person_data import PersonData, Reader

BATCH = 2000


def write_export(data: PersonData, target: Path) -> dict[str, int]:
    """Write the person's export zip to `target`; returns the manifest's line counts."""
    counts: dict[str, int] = {}
    person_id = data.person_id
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with data.snapshot() as read:
            # Our own renderings first, then the stored records of the same type, one file
            # per type as in a Bulk Data export (a Synthea record brings its own Patient).
            ours: dict[str, Iterable[Any]] = {
                "Patient": _patient(read),
                "Observation": _observations(read),
            }
            for resource_type in sorted(set(ours) | set(read.resource_types())):
                name = f"fhir/{resource_type}.ndjson"
                counts[name] = _write_lines(
                    archive,
                    name,
                    itertools.chain(ours.get(resource_type, ()), _resources(read, resource_type)),
                )
            for table, columns, rows in read.table_rows():
                name = f"csv/{table}.csv"
                counts[name] = _write_csv(archive, name, columns, rows)
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


def _write_csv(archive: zipfile.ZipFile, name: str, columns: list[str], rows: Iterable[Any]) -> int:
    count = 0
    with archive.open(name, "w") as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(value) for value in row])
            count += 1
        out.flush()
        out.detach()
    return count


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _patient(read: Reader) -> Iterator[dict[str, Any]]:
    identity = read.identity()
    if identity is not None:
        yield render.patient(identity)


def _observations(read: Reader) -> Iterator[dict[str, Any]]:
    """Every sample as an Observation, as the FHIR API renders it, page by page."""
    patient_id = str(read.person_id)
    after = None
    while True:
        rows = read.samples(SampleFilter(), after=after, limit=BATCH)
        for row in rows:
            yield render.sample_observation(row, patient_id)
        if len(rows) < BATCH:
            return
        after = rows[-1].key


def _resources(read: Reader, resource_type: str) -> Iterator[Any]:
    offset = 0
    while True:
        page = read.search_resources(resource_type, sort=("_id",), limit=BATCH, offset=offset)
        for stored in page.resources:
            yield stored.resource
        if len(page.resources) < BATCH:
            return
        offset += BATCH
