"""Bulk Data NDJSON: one FHIR resource per line, one resource type per file, read in chunks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ErrorHandling, Item, ProgressFn
from healthpod.ingest.fhir import validate
from healthpod.ingest.fhir.entries import BOM, MAX_DEPTH, entry_items, progress, too_deep

MAX_LINE_BYTES = 16 * 1024 * 1024
CHUNK = 256 * 1024


def read_ndjson(
    stream: IO[bytes], filename: str, on_progress: ProgressFn | None, errors: ErrorHandling
) -> Iterator[Item]:
    expected = _type_from_name(filename)
    for number, line in enumerate(_lines(stream, filename), start=1):
        location = f"line {number}"
        text = line.removeprefix(BOM).strip() if number == 1 else line.strip()
        if not text:
            continue
        resource = _parse_line(text, filename, location)
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            raise MalformedFile(
                "the line has no resourceType, so this is not a FHIR NDJSON file "
                "(a Bulk Data log.ndjson, perhaps).",
                source=filename,
                location=location,
                hint="Import the resource files of the export (Patient.000.ndjson, …).",
            )
        if not validate.is_resource_type(resource_type):
            raise MalformedFile(
                f"resourceType {resource_type!r} is not a FHIR R4 resource type.",
                source=filename,
                location=location,
            )
        if expected is None:
            expected = resource_type
        elif resource_type != expected:
            raise MalformedFile(
                f"a {resource_type} in a file of {expected} resources.",
                source=filename,
                location=location,
                hint="Bulk Data NDJSON holds one resource type per file.",
            )
        yield from entry_items(resource, None, location, filename, {}, {}, None, errors)
        if number % 200 == 0:
            progress(stream, on_progress)
    progress(stream, on_progress)


def _lines(stream: IO[bytes], filename: str) -> Iterator[bytes]:
    """The lines of `stream`, read in chunks (whatever the stream's own buffering)."""
    pending = b""
    number = 1
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if len(line) > MAX_LINE_BYTES:
                raise _too_long(filename, number)
            yield line
            number += 1
        if len(pending) > MAX_LINE_BYTES:
            raise _too_long(filename, number)
    if pending:
        yield pending


def _too_long(filename: str, number: int) -> MalformedFile:
    return MalformedFile(
        f"the line is longer than {MAX_LINE_BYTES / (1024 * 1024):g} MiB.",
        source=filename,
        location=f"line {number}",
        hint="NDJSON holds one resource per line; the file may be damaged.",
    )


def _parse_line(text: bytes, filename: str, location: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError as exc:
        raise too_deep(filename, location) from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise MalformedFile(
            f"the line is not JSON ({exc}).",
            source=filename,
            location=location,
            hint="NDJSON holds one JSON resource per line; the file may be damaged.",
        ) from exc
    if not isinstance(value, dict):
        raise MalformedFile("the line is not a JSON object.", source=filename, location=location)
    if _depth(value) > MAX_DEPTH:
        raise too_deep(filename, location)
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def _type_from_name(filename: str) -> str | None:
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if validate.is_resource_type(stem) else None
