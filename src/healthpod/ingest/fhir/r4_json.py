"""FHIR R4 JSON from healthcare: Bundles of every type, single resources, Bulk Data NDJSON.

A JSON document is read as a stream (ijson), in passes over the file so that memory stays flat:
the first checks that it is JSON and not nested deeper than `MAX_DEPTH`, the second learns the
Bundle's `fullUrl`s, the third yields the resources with their references rewritten: an
`urn:uuid:` or absolute `fullUrl` of an entry becomes the stored `Type/id`, so what is stored
points at what is stored. References to resources outside the file stay as written and are
never fetched. NDJSON (one resource per line, one type per file) is read line by line, a line
at most `MAX_LINE_BYTES` long. The readers are document.py and ndjson.py; what
happens to each resource (ids, references, validation, samples) is entries.py.

Refused outright (MalformedFile, nothing stored): not JSON, nested too deep, a line too long,
no or an unknown `resourceType`, an NDJSON line of another type than the file. A resource that
fails structural validation (validate.py) is, per `ErrorHandling`: RAISE, the file is refused
and the error names its entry or line and path; WARN (the CLI's choice), the resource is
skipped with a warning that says so; IGNORE, skipped.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, BinaryIO, ClassVar

from healthpod.ingest.base import ClinicalResource, ErrorHandling, Item, ProgressFn, Warning_
from healthpod.ingest.fhir.document import read_document
from healthpod.ingest.fhir.entries import BOM, MAX_DEPTH
from healthpod.ingest.fhir.ndjson import CHUNK, MAX_LINE_BYTES, read_ndjson

__all__ = ["IMPORTER", "MAX_DEPTH", "MAX_LINE_BYTES", "FhirImporter", "read_member"]

_SPOOL_BYTES = 8 * 1024 * 1024
_GROUP = 1000
MAX_WARNINGS = 100


class FhirImporter:
    format: ClassVar[str] = "fhir"

    def sniff(self, head: bytes, filename: str) -> bool:
        """A JSON object (or NDJSON lines) with a `resourceType` near the start."""
        text = head.removeprefix(BOM).lstrip()
        return text.startswith(b"{") and b'"resourceType"' in text[:65536]

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the resources (and samples from vital-sign Observations) of a FHIR file.

        Raises:
            MalformedFile: the file is not FHIR JSON, is hostile, or (under RAISE) holds an
                invalid resource; names the entry or line and the path.
        """
        with _Rewindable(fp) as stream:
            if _is_ndjson(stream, filename):
                yield from _grouped(read_ndjson(stream, filename, on_progress, errors))
            else:
                yield from _grouped(read_document(stream, filename, on_progress, errors))


IMPORTER = FhirImporter()


def _grouped(items: Iterator[Item]) -> Iterator[Item]:
    """Resources as they come, everything else after each run of `_GROUP` resources.

    The import pipeline batches consecutive items of one kind; holding back the few samples
    and warnings keeps resources in large batches without holding many items in memory. Past
    `MAX_WARNINGS` warnings the rest are counted, not listed, so a hostile file of 10^5 bad
    entries cannot flood the import's report.
    """
    held: list[Item] = []
    count = patients = warnings = 0
    for item in items:
        if isinstance(item, ClinicalResource):
            yield item
            count += 1
            patients += item.resource["resourceType"] == "Patient"
            if count % _GROUP == 0 and held:
                yield from held
                held = []
            continue
        if isinstance(item, Warning_):
            warnings += 1
            if warnings > MAX_WARNINGS:
                continue
        held.append(item)
        if len(held) >= _GROUP:
            yield from held
            held = []
    yield from held
    if warnings > MAX_WARNINGS:
        yield Warning_(
            "the file",
            f"{warnings - MAX_WARNINGS} more warnings like the ones above were not listed.",
        )
    if patients > 1:
        yield Warning_(
            "the file",
            f"it holds {patients} Patient resources; all of it is stored under the importing "
            "person. Import one person's records per person.",
        )


def read_member(
    fp: BinaryIO, *, member: str, errors: ErrorHandling = ErrorHandling.WARN
) -> Iterator[Item]:
    """The items of one FHIR file inside an archive (Apple Health's `clinical-records/*.json`).

    Raises:
        MalformedFile: as `FhirImporter.read`, naming the member.
    """
    return IMPORTER.read(fp, filename=member, errors=errors)


class _Rewindable:
    """The stream itself when it can seek, else a spooled copy (passes need to rewind)."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.copy: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        if self.fp.seekable():
            return self.fp
        self.copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
        shutil.copyfileobj(self.fp, self.copy)
        self.copy.seek(0)
        return self.copy

    def __exit__(self, *_exc: object) -> None:
        if self.copy is not None:
            self.copy.close()


def _is_ndjson(stream: IO[bytes], filename: str) -> bool:
    start = stream.tell()
    try:
        lower = filename.lower()
        if lower.endswith((".ndjson", ".jsonl")):
            return True
        if lower.endswith(".json"):
            return False
        head = stream.read(CHUNK)
        first, newline, rest = head.partition(b"\n")
        first = first.removeprefix(BOM).strip()
        if not (newline and first.startswith(b"{") and first.endswith(b"}")):
            return False
        return rest.lstrip().startswith(b"{")
    finally:
        stream.seek(start)
