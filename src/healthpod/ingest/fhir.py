"""FHIR R4 JSON from healthcare: Bundles of every type, single resources, Bulk Data NDJSON.

A JSON document is read as a stream (ijson), in passes over the file so that memory stays flat:
the first checks that it is JSON and not nested deeper than `MAX_DEPTH`, the second learns the
Bundle's `fullUrl`s, the third yields the resources with their references rewritten: an
`urn:uuid:` or absolute `fullUrl` of an entry becomes the stored `Type/id`, so what is stored
points at what is stored. References to resources outside the file stay as written and are
never fetched. NDJSON (one resource per line, one type per file) is read line by line, a line
at most `MAX_LINE_BYTES` long.

Refused outright (MalformedFile, nothing stored): not JSON, nested too deep, a line too long,
no or an unknown `resourceType`, an NDJSON line of another type than the file. A resource that
fails structural validation (fhir_validate) is, per `ErrorHandling`: RAISE, the file is refused
and the error names its entry or line and path; WARN (the CLI's choice), the resource is
skipped with a warning that says so; IGNORE, skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, ClassVar

import ijson  # type: ignore[import-untyped]

from healthpod.errors import MalformedFile
from healthpod.ingest import fhir_validate
from healthpod.ingest.base import (
    ClinicalResource,
    ErrorHandling,
    Item,
    ProgressFn,
    Warning_,
)
from healthpod.ingest.fhir_samples import samples_of
from healthpod.store.resources import content_id, is_valid_id

MAX_DEPTH = 100  # FHIR resources nest ~30 deep at most (Questionnaire items in items)
MAX_LINE_BYTES = 16 * 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024
_GROUP = 1000
_CHUNK = 256 * 1024
_UUID = re.compile(r"^urn:uuid:([0-9a-fA-F-]{36})$")
_ABSOLUTE = re.compile(r"^https?://[^\s]+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/.*)?$")
_NOT_RECORDS = frozenset({"OperationOutcome", "Bundle", "Parameters"})
_ORGANISATION_ELEMENTS = (
    "serviceProvider",
    "performer",
    "recorder",
    "asserter",
    "author",
    "custodian",
    "managingOrganization",
    "requester",
    "organization",
    "provider",
    "issuer",
)
_BOM = b"\xef\xbb\xbf"


class FhirImporter:
    format: ClassVar[str] = "fhir"

    def sniff(self, head: bytes, filename: str) -> bool:
        """A JSON object (or NDJSON lines) with a `resourceType` near the start."""
        text = head.removeprefix(_BOM).lstrip()
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
        with _seekable(fp) as stream:
            if _is_ndjson(stream, filename):
                yield from _grouped(_read_ndjson(stream, filename, on_progress, errors))
            else:
                yield from _grouped(_read_document(stream, filename, on_progress, errors))


IMPORTER = FhirImporter()


def _grouped(items: Iterator[Item]) -> Iterator[Item]:
    """Resources as they come, everything else after each run of `_GROUP` resources.

    The import pipeline batches consecutive items of one kind; holding back the few samples
    and warnings keeps resources in large batches without holding many items in memory.
    """
    held: list[Item] = []
    count = patients = 0
    for item in items:
        if isinstance(item, ClinicalResource):
            yield item
            count += 1
            patients += item.resource["resourceType"] == "Patient"
            if count % _GROUP == 0 and held:
                yield from held
                held = []
        else:
            held.append(item)
    yield from held
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


class _seekable:
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
        head = stream.read(_CHUNK)
        first, newline, rest = head.partition(b"\n")
        first = first.removeprefix(_BOM).strip()
        if not (newline and first.startswith(b"{") and first.endswith(b"}")):
            return False
        return rest.lstrip().startswith(b"{")
    finally:
        stream.seek(start)


# --- JSON documents: a Bundle or one resource -------------------------------------------------


def _read_document(
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
    if head == _BOM:
        start += len(_BOM)
    stream.seek(start)
    top_type, bundle_type = _scan(stream, filename)
    if top_type is None:
        raise MalformedFile(
            "the JSON has no resourceType, so it is not a FHIR resource or Bundle.",
            source=filename,
            hint="Import a FHIR R4 Bundle, a single resource, or Bulk Data NDJSON.",
        )
    if not fhir_validate.is_resource_type(top_type):
        raise MalformedFile(
            f"resourceType {top_type!r} is not a FHIR R4 resource type.",
            source=filename,
            hint="Check that the file is FHIR R4 JSON.",
        )
    stream.seek(start)
    if top_type != "Bundle":
        resource = next(_items(stream, "", filename), None)
        if isinstance(resource, dict):
            yield from _entry_items(resource, None, "the resource", filename, {}, {}, None, errors)
        _progress(stream, on_progress)
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
        yield from _entry_items(
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
            _progress(stream, on_progress)
    _progress(stream, on_progress)
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
                    raise _too_deep(filename, None)
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
        fhir_id = _assigned_id(resource, full_url)
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


def _assigned_id(resource: dict[str, Any], full_url: Any) -> str | None:
    """The id the resource is stored under: its own, its urn:uuid, or a hash of its content."""
    own = resource.get("id")
    if is_valid_id(own):
        return str(own)
    if own is not None:
        return None  # an id that is not a FHIR id: validation reports it
    if isinstance(full_url, str):
        uuid = _UUID.match(full_url)
        if uuid is not None:
            return uuid.group(1).lower()
        absolute = _ABSOLUTE.match(full_url)
        if absolute is not None and absolute.group(1) == resource.get("resourceType"):
            return absolute.group(2)
    return content_id(resource)


def _entry_items(
    resource: Any,
    full_url: Any,
    location: str,
    filename: str,
    references: dict[str, str],
    organisations: dict[str, str],
    custodian: str | None,
    errors: ErrorHandling,
) -> Iterator[Item]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        yield from _invalid(["it has no resourceType"], "resource", location, filename, errors)
        return
    resource_type = resource["resourceType"]
    if resource_type in _NOT_RECORDS:
        yield Warning_(
            location, f"the {resource_type} is a message, not a health record; not imported."
        )
        return
    assigned = _assigned_id(resource, full_url)
    if assigned is not None and "id" not in resource:
        resource = {**resource, "id": assigned}
    if references:
        resource = _rewrite(resource, references)
    found = fhir_validate.problems(resource)
    if found:
        yield from _invalid(found, resource_type, location, filename, errors)
        return
    if not fhir_validate.has_model(resource_type):
        yield Warning_(
            location,
            f"{resource_type} is an R4 type without an R4B model; stored without a "
            "structural check.",
        )
    organisation = _organisation(resource, organisations) or custodian
    yield ClinicalResource(resource, location, source_file=filename, organisation=organisation)
    if resource_type == "Observation":
        yield from samples_of(resource, location=location, organisation=organisation)


def _invalid(
    found: list[str], what: str, location: str, filename: str, errors: ErrorHandling
) -> Iterator[Item]:
    detail = "; ".join(found)
    if errors is ErrorHandling.RAISE:
        raise MalformedFile(
            f"the {what} is not valid FHIR R4: {detail}. The file was refused.",
            source=filename,
            location=location,
            hint="Fix the resource, or import with warnings to skip it.",
        )
    if errors is ErrorHandling.WARN:
        yield Warning_(location, f"the {what} is not valid FHIR R4 ({detail}); skipped.")


def _rewrite(node: Any, references: dict[str, str]) -> Any:
    """A copy of `node` with every `reference` that names a Bundle entry as its stored Type/id."""
    if isinstance(node, dict):
        out = {key: _rewrite(value, references) for key, value in node.items()}
        reference = node.get("reference")
        if isinstance(reference, str) and reference in references:
            out["reference"] = references[reference]
        return out
    if isinstance(node, list):
        return [_rewrite(value, references) for value in node]
    return node


def _organisation(resource: dict[str, Any], organisations: dict[str, str]) -> str | None:
    for element in _ORGANISATION_ELEMENTS:
        for value in _as_list(resource.get(element)):
            if not isinstance(value, dict):
                continue
            actor = value.get("actor")
            ref: dict[str, Any] = actor if isinstance(actor, dict) else value
            reference = ref.get("reference")
            if isinstance(reference, str) and reference.startswith("Organization/"):
                name = organisations.get(reference) or ref.get("display")
                if isinstance(name, str) and name:
                    return name
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- NDJSON: one resource per line ------------------------------------------------------------


def _read_ndjson(
    stream: IO[bytes], filename: str, on_progress: ProgressFn | None, errors: ErrorHandling
) -> Iterator[Item]:
    expected = _type_from_name(filename)
    for number, line in enumerate(_lines(stream, filename), start=1):
        location = f"line {number}"
        text = line.removeprefix(_BOM).strip() if number == 1 else line.strip()
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
        if not fhir_validate.is_resource_type(resource_type):
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
        yield from _entry_items(resource, None, location, filename, {}, {}, None, errors)
        if number % 200 == 0:
            _progress(stream, on_progress)
    _progress(stream, on_progress)


def _lines(stream: IO[bytes], filename: str) -> Iterator[bytes]:
    """The lines of `stream`, read in chunks (whatever the stream's own buffering)."""
    pending = b""
    number = 1
    while True:
        chunk = stream.read(_CHUNK)
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
        raise _too_deep(filename, location) from exc
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
        raise _too_deep(filename, location)
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
    return stem if fhir_validate.is_resource_type(stem) else None


# --- errors and progress ----------------------------------------------------------------------


def _not_json(filename: str, exc: Exception) -> MalformedFile:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    detail = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return MalformedFile(
        f"the file is not valid JSON ({detail}).",
        source=filename,
        hint="Export the record again; FHIR files are JSON.",
    )


def _too_deep(filename: str, location: str | None) -> MalformedFile:
    return MalformedFile(
        f"the JSON is nested more than {MAX_DEPTH} levels deep; no FHIR resource is.",
        source=filename,
        location=location,
        hint="The file is damaged or not a health record.",
    )


def _progress(stream: IO[bytes], on_progress: ProgressFn | None) -> None:
    if on_progress is not None:
        try:
            on_progress(stream.tell())
        except (OSError, ValueError):
            return
