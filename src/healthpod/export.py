"""Everything of one person as one zip: FHIR R4 NDJSON plus CSV, with a manifest of counts.

    fhir/Patient.ndjson           the person (then any Patient record from healthcare)
    fhir/Observation.ndjson       every stored sample, rendered as the FHIR API renders it
                                  (blood pressure as one 85354-9 panel), then the
                                  Observations from healthcare
    fhir/<Type>.ndjson            the other records from healthcare, as stored
    csv/<table>.csv               the person's rows of each table, columns as stored, and
                                  csv/sample_types.csv for what the type_id columns mean
    manifest.json                 the format and its version, how many lines (CSV: rows) each
                                  file has and its sha256, and when it was made

The format is documented in docs/export-format.md; `ingest.healthpod_export` reads it back.

Everything is read through the person's own door (`PersonData`) and streamed page by page into
the zip file on disk, so memory stays flat however large the pod is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from healthpod import __version__
from healthpod.fhir import render
from healthpod.fhir.render import Rendered
from healthpod.store.export_format import FORMAT, FORMAT_VERSION
from healthpod.store.observations import BP_TYPES, SampleFilter
from healthpod.store.person_data import PersonData, Reader
from healthpod.store.person_tables import TableRows

BATCH = 2000
PAGE = 20_000  # samples per page: each page costs a seek, so few large ones

# Called with (file being written, lines written so far, lines expected or None).
ExportProgress = Callable[[str, int, int | None], None]


def write_export(
    data: PersonData, target: Path, *, on_progress: ExportProgress | None = None
) -> dict[str, int]:
    """Write the person's export zip to `target`; returns the manifest's line counts."""
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    person_id = data.person_id
    # Level 1: deflate at its fastest (at level 6 it was a fifth of a large export's time).
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with data.snapshot() as read:
            expected = {"fhir/Observation.ndjson": read.count_samples(SampleFilter())}
            # Our own renderings first, then the stored records of the same type, one file
            # per type as in a Bulk Data export (a Synthea record brings its own Patient).
            ours: dict[str, Iterable[Any]] = {
                "Patient": _patient(read),
                "Observation": _observations(read),
            }
            for resource_type in sorted(set(ours) | set(read.resource_types())):
                name = f"fhir/{resource_type}.ndjson"
                counts[name], digests[name] = _write_lines(
                    archive,
                    name,
                    itertools.chain(ours.get(resource_type, ()), _resources(read, resource_type)),
                    _reporter(on_progress, name, expected.get(name)),
                )
            for table in read.table_rows():
                name = f"csv/{table.name}.csv"
                counts[name], digests[name] = _write_csv(
                    archive, name, table, _reporter(on_progress, name, None)
                )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generator": f"healthpod {__version__}",
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "person_id": person_id,
            "files": counts,
            "sha256": digests,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return counts


Report = Callable[[int], None]


def _reporter(on_progress: ExportProgress | None, name: str, total: int | None) -> Report:
    if on_progress is None:
        return lambda done: None
    on_progress(name, 0, total)
    return lambda done: on_progress(name, done, total)


class _Hashed(io.RawIOBase):
    """A zip member being written, hashed on the way (the manifest's sha256)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha.update(data)
        self.raw.write(data)
        return len(data)


def _write_lines(
    archive: zipfile.ZipFile, name: str, documents: Iterable[Any], report: Report
) -> tuple[int, str]:
    """One JSON document per line; bytes, a list of bytes (a page of lines) and a
    `render.Rendered` are JSON text already."""
    count = 0
    with archive.open(name, "w") as raw:
        hashed = _Hashed(raw)
        out = io.BufferedWriter(hashed, WRITE_BUFFER)
        for document in documents:
            if isinstance(document, list):  # a page of lines, JSON text already
                out.write(b"\n".join(document))
                out.write(b"\n")
                before, count = count, count + len(document)
                if count // BATCH > before // BATCH:
                    report(count)
                continue
            if isinstance(document, bytes):
                out.write(document)
            elif isinstance(document, Rendered):
                out.write(document.json)
            else:
                out.write(_encode(document))
            out.write(b"\n")
            count += 1
            if count % BATCH == 0:
                report(count)
        out.flush()
    report(count)
    return count, hashed.sha.hexdigest()


def _write_csv(
    archive: zipfile.ZipFile, name: str, table: TableRows, report: Report
) -> tuple[int, str]:
    """The table's rows as CSV; its JSON cells (stored text) re-encoded compactly."""
    count = 0
    recode = sorted(table.json)
    with archive.open(name, "w") as raw:
        hashed = _Hashed(raw)
        out = io.TextIOWrapper(
            io.BufferedWriter(hashed, WRITE_BUFFER), encoding="utf-8", newline=""
        )
        writer = csv.writer(out)
        writer.writerow(table.columns)
        for batch in table.batches:
            if len(recode) == 1:  # the samples' meta: most rows have none
                [i] = recode
                writer.writerows([r if r[i] is None else _recoded(r, recode) for r in batch])
            elif recode:
                writer.writerows([_recoded(row, recode) for row in batch])
            else:
                writer.writerows(batch)
            count += len(batch)
            report(count)
        out.flush()
        out.detach().flush()
    report(count)
    return count, hashed.sha.hexdigest()


WRITE_BUFFER = 1024 * 1024
_fallback = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encode(document: Any) -> bytes:
    """Compact JSON (orjson: a tenth of the standard encoder's time)."""
    try:
        return orjson.dumps(document)
    except TypeError:  # an integer beyond 64 bits: the standard encoder writes it
        return _fallback(document).encode()


def _recoded(row: Sequence[Any], positions: list[int]) -> list[Any]:
    cells = list(row)
    for i in positions:
        text = cells[i]
        if text is not None:
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue  # what orjson cannot read (NaN, a huge integer) stays as stored
            # JSON null (how a JSON column stores None) is an empty cell, as null is anywhere.
            cells[i] = None if value is None else orjson.dumps(value).decode()
    return cells


def _patient(read: Reader) -> Iterator[dict[str, Any]]:
    identity = read.identity()
    if identity is not None:
        yield render.patient(identity)


def _observations(read: Reader) -> Iterator[dict[str, Any] | Rendered | list[bytes]]:
    """Every sample as an Observation, as the FHIR API renders it, page by page.

    One type at a time (blood pressure's two parts together, listed as one panel): a page
    over every type reads a page of each type to sort them by time, many times the rows kept.
    """
    patient_id = str(read.person_id)
    codes = set(read.visible_types())
    groups = [frozenset(BP_TYPES)] if codes >= set(BP_TYPES) else []
    groups += [frozenset({code}) for code in sorted(codes - set().union(*groups))]
    for group in groups:
        [code] = group if len(group) == 1 else [""]
        if code and code not in BP_TYPES:  # a quantity type's rows as stored, in one loop
            found = False
            for page in read.quantity_pages(code, page=PAGE):
                found = True
                yield render.quantity_lines(code, page, patient_id)
            if found:
                continue
        after = None
        while True:
            rows = read.samples(SampleFilter(type_codes=group), after=after, limit=PAGE)
            for row in rows:
                yield render.sample_resource(row, patient_id)
            if len(rows) < PAGE:
                break
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
