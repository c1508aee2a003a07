"""A FHIR JSON document, a Bundle of any type or one resource, read as a stream in passes.

The first pass checks that it is JSON, not nested deeper than MAX_DEPTH, and finds the
top-level resourceType; for a Bundle the second learns each entry's fullUrl and the stored
`Type/id` it becomes (and the names of Organizations), the third yields the resources with
their references rewritten. Memory holds one entry and the fullUrl map, not the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson  # type: ignore[import-untyped]

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn, Warning_
from healthpod.ingest.fhir import validate
from healthpod.ingest.fhir.entries import (
    BOM,
    MAX_DEPTH,
    assigned_id,
    entry_items,
    progress,
    too_deep,
)


def read_document(
    stream: IO[bytes], filename: str, on_progress: ProgressFn | None, errors: ErrorHandling
) -> Iterator[Item]:
    start = stream.tell()
    head = stream.read(3)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise MalformedFile(
            "the file is UTF-16 text; FHIR JSON is UTF-8.",
            source=filename,
            hint="Save the file as UTF-8 and import it again.",
        )
    if head == BOM:
        start += len(BOM)
    stream.seek(start)
    top_type, bundle_type = _scan(stream, filename)
    if top_type is None:
        raise MalformedFile(
            "the JSON has no resourceType, so it is not a FHIR resource or Bundle.",
            source=filename,
            hint="Import a FHIR R4 Bundle, a single resource, or Bulk Data NDJSON.",
        )
    if not validate.is_resource_type(top_type):
        raise MalformedFile(
            f"resourceType {top_type!r} is not a FHIR R4 resource type.",
            source=filename,
            hint="Check that the file is FHIR R4 JSON.",
        )
    stream.seek(start)
    if top_type != "Bundle":
        resource = next(_items(stream, "", filename), None)
        if isinstance(resource, dict):
            yield from entry_items(resource, None, "the resource", filename, {}, {}, None, errors)
        progress(stream, on_progress)
        return
    references, organisations, custodian = _learn_bundle(stream, filename)
    stream.seek(start)
    for index, entry in enumerate(_items(stream, "entry.item", filename)):
        location = f"entry {index}"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            request = entry.get("request") if isinstance(entry, dict) else None
            method = request.get("method") if isinstance(request, dict) else None
            what = f"a {method} request" if method else "an entry"
            yield Warning_(location, f"{what} without a resource; nothing to import from it.")
            continue
        yield from entry_items(
            resource,
            entry.get("fullUrl"),
            location,
            filename,
            references,
            organisations,
            custodian,
            errors,
        )
        if index % 100 == 0:
            progress(stream, on_progress)
    progress(stream, on_progress)
    if bundle_type is None:
        yield Warning_("the Bundle", "the Bundle has no type; its entries were read anyway.")


def _items(stream: IO[bytes], prefix: str, filename: str) -> Iterator[Any]:
    try:
        yield from ijson.items(stream, prefix, use_float=True)
    except ijson.JSONError as exc:
        raise _not_json(filename, exc) from exc


def _scan(stream: IO[bytes], filename: str) -> tuple[str | None, str | None]:
    """Check JSON and depth; return the top-level resourceType and (Bundle) type."""
    depth = 0
    key: str | None = None
    top_type: str | None = None
    bundle_type: str | None = None
    entry_value_next = False
    try:
        for event, value in ijson.basic_parse(stream, use_float=True):
            if entry_value_next and event not in ("start_array", "null"):
                raise MalformedFile(
                    "Bundle.entry is not a list of entries.",
                    source=filename,
                    hint="Check that the file is a FHIR R4 Bundle.",
                )
            entry_value_next = False
            if event in ("start_map", "start_array"):
                if depth == 0 and event == "start_array":
                    raise MalformedFile(
                        "the JSON is a list, not a FHIR resource or Bundle.",
                        source=filename,
                        hint="Import a FHIR Bundle, a single resource, or NDJSON lines.",
                    )
                depth += 1
                if depth > MAX_DEPTH:
                    raise too_deep(filename, None)
            elif event in ("end_map", "end_array"):
                depth -= 1
            elif depth == 1:
                if event == "map_key":
                    key = value
                    entry_value_next = value == "entry"
                elif key == "resourceType" and event == "string":
                    top_type = value
                elif key == "type" and event == "string":
                    bundle_type = value
    except ijson.JSONError as exc:
        raise _not_json(filename, exc) from exc
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            "the file is not UTF-8 text.", source=filename, hint="FHIR JSON is UTF-8."
        ) from exc
    return top_type, bundle_type


def _learn_bundle(
    stream: IO[bytes], filename: str
) -> tuple[dict[str, str], dict[str, str], str | None]:
    """Map each entry's fullUrl (and Type/id) to the stored `Type/id`; learn organisation names."""
    references: dict[str, str] = {}
    organisations: dict[str, str] = {}
    custodian: str | None = None
    for entry in _items(stream, "entry.item", filename):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        resource_type = resource.get("resourceType")
        full_url = entry.get("fullUrl")
        fhir_id = assigned_id(resource, full_url)
        if not isinstance(resource_type, str) or fhir_id is None:
            continue
        stored = f"{resource_type}/{fhir_id}"
        if isinstance(full_url, str):
            references[full_url] = stored
        name = resource.get("name")
        if resource_type == "Organization" and isinstance(name, str) and "\x00" not in name:
            organisations[stored] = name
        if resource_type == "Composition":
            custody = resource.get("custodian")
            if isinstance(custody, dict) and isinstance(custody.get("reference"), str):
                custodian = custody["reference"]
    if custodian is not None:
        custodian = references.get(custodian, custodian)
    return references, organisations, organisations.get(custodian or "")


def _not_json(filename: str, exc: Exception) -> MalformedFile:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    detail = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return MalformedFile(
        f"the file is not valid JSON ({detail}).",
        source=filename,
        hint="Export the record again; FHIR files are JSON.",
    )
