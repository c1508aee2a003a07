"""One resource out of a FHIR file: its stored id, rewritten references, checks and items.

Shared by the document (Bundle, single resource) and NDJSON readers of ingest/fhir/r4_json.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

from healthpod.errors import MalformedFile
from healthpod.ingest.base import ClinicalResource, ErrorHandling, Item, ProgressFn, Warning_
from healthpod.ingest.fhir import validate
from healthpod.ingest.fhir.observations import samples_of
from healthpod.store.resources import content_id, is_valid_id

MAX_DEPTH = 100  # FHIR resources nest ~30 deep at most (Questionnaire items in items)
BOM = b"\xef\xbb\xbf"
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


def assigned_id(resource: dict[str, Any], full_url: Any) -> str | None:
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


def entry_items(
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
    assigned = assigned_id(resource, full_url)
    if assigned is not None and "id" not in resource:
        resource = {**resource, "id": assigned}
    if references:
        resource = _rewrite(resource, references)
    found = validate.problems(resource)
    if found:
        yield from _invalid(found, resource_type, location, filename, errors)
        return
    if not validate.has_model(resource_type):
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
        for value in as_list(resource.get(element)):
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


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def too_deep(filename: str, location: str | None) -> MalformedFile:
    return MalformedFile(
        f"the JSON is nested more than {MAX_DEPTH} levels deep; no FHIR resource is.",
        source=filename,
        location=location,
        hint="The file is damaged or not a health record.",
    )


def progress(stream: IO[bytes], on_progress: ProgressFn | None) -> None:
    if on_progress is not None:
        try:
            on_progress(stream.tell())
        except (OSError, ValueError):
            return
