"""Clinical resources from healthcare (kept whole by store.resources) under a consent scope.

The reader's scope goes into the store's query (`store.scope_sql`), so a resource outside it is
not found. Under a daily-summaries-only consent no clinical resource is shown: granularity is
about samples, and deny is the default where a consent does not say.

Paging is by offset inside a `_cursor` of kind "r" (`<0>.r.<offset>`); the query is run again,
with the consent decided again, for every page.
"""

from __future__ import annotations

from typing import Any

from healthpod.fhir import render
from healthpod.fhir.search import Cursor, SearchQuery
from healthpod.store import resources
from healthpod.store.observations import parse_id
from healthpod.store.person_data import Reader

OFFSET_KIND = "r"


def as_fhir_json(resource: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """A resource just stored (version 1) as the client gets it back."""
    out = dict(resource)
    out["meta"] = {**(resource.get("meta") or {}), "versionId": "1"}
    out["subject"] = {"reference": f"Patient/{patient_id}"}
    return out


def as_fhir(stored: resources.StoredResource, patient_id: str) -> dict[str, Any]:
    """The stored JSON with our version, time and the person as its patient."""
    resource = dict(stored.resource)
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(stored.version_id)
    meta["lastUpdated"] = render.instant(stored.last_updated_ms)
    resource["meta"] = meta
    for key in ("subject", "patient"):
        reference = resource.get(key)
        if isinstance(reference, dict) and str(reference.get("reference", "")).startswith(
            "Patient/"
        ):
            resource[key] = {**reference, "reference": f"Patient/{patient_id}"}
    return resource


def search(
    read: Reader, query: SearchQuery, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(resources of this slice, total inside the scope) for one resource type."""
    if read.scope.daily_only:
        return [], 0
    ids = [i for i in query.ids if parse_id(i) is None]
    if query.ids and not ids:
        return [], 0
    page = read.search_resources(
        query.resource_type,
        ids=ids,
        codes=query.codes,
        categories=query.categories,
        dates=query.dates,
        last_updated=query.last_updated,
        sort=("-date",) if query.descending else ("date",),
        limit=limit,
        offset=offset,
    )
    patient_id = str(read.person_id)
    return [as_fhir(r, patient_id) for r in page.resources], page.total


def read(reader: Reader, resource_type: str, fhir_id: str) -> dict[str, Any] | None:
    if reader.scope.daily_only or not resources.is_valid_id(fhir_id):
        return None
    found = reader.resource(resource_type, fhir_id)
    return None if found is None else as_fhir(found, str(reader.person_id))


def next_cursor(offset: int) -> Cursor:
    return Cursor(0, OFFSET_KIND, offset)
