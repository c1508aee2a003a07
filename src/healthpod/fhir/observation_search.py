"""Observation search and read over samples: FHIR codes and categories to our sample types,
keyset paging, and daily summaries when the consent allows only those.

Totals are counted only when asked (`_summary=count`, `_total`, `_count=0`) and only over rows
inside the scope, so no number reveals what a consent hides.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from healthpod.errors import InvalidRequest
from healthpod.fhir import render, resource_search
from healthpod.fhir.search import Cursor, SearchQuery
from healthpod.store import observations
from healthpod.store.observations import Key, SampleFilter
from healthpod.store.person_data import Reader
from healthpod.store.search_values import Token
from healthpod.vocabulary import BY_CODE, BY_LOINC, SAMPLE_TYPES

BP_PANEL = "85354-9"
OUR_SYSTEMS = (render.SAMPLE_TYPE_SYSTEM,)
CATEGORY_SYSTEM = render.OBSERVATION_CATEGORY


def _codes_for_token(token: Token) -> set[str]:
    code = token.code
    if code is None:  # `system|`: any code of that system
        if token.system == render.LOINC:
            return {t.code for t in SAMPLE_TYPES if t.loinc}
        if token.system in OUR_SYSTEMS:
            return set(BY_CODE)
        return set()
    found: set[str] = set()
    if token.system in (None, render.LOINC):
        if code == BP_PANEL:
            found |= set(observations.BP_TYPES)
        if code in BY_LOINC:
            found.add(BY_LOINC[code].code)
    if token.system in (None, *OUR_SYSTEMS) and code in BY_CODE:
        found.add(code)
    return found


def _codes_for_category(token: Token) -> set[str]:
    if token.system not in (None, CATEGORY_SYSTEM) or token.code is None:
        return set()
    return {t.code for t in SAMPLE_TYPES if t.fhir_category == token.code}


def type_filter(query: SearchQuery) -> frozenset[str] | None:
    """The sample type codes a query may return (the scope narrows them further in SQL)."""
    allowed: set[str] | None = None

    def meet(codes: Iterable[str]) -> None:
        nonlocal allowed
        allowed = set(codes) if allowed is None else allowed & set(codes)

    if query.codes:
        meet(set().union(*(_codes_for_token(t) for t in query.codes)))
    if query.categories:
        meet(set().union(*(_codes_for_category(t) for t in query.categories)))
    return None if allowed is None else frozenset(allowed)


def sample_filter(query: SearchQuery) -> SampleFilter:
    ids: tuple[tuple[str, int], ...] | None = None
    if query.ids:
        ids = tuple(p for p in (observations.parse_id(i) for i in query.ids) if p is not None)
    return SampleFilter(
        type_codes=type_filter(query),
        dates=query.dates,
        updated=query.last_updated,
        ids=ids,
    )


def search(
    read: Reader, query: SearchQuery
) -> tuple[list[dict[str, Any] | render.Rendered], Cursor | None, int | None]:
    """(resources of this page, cursor of the next page or None, total or None).

    Quantity samples come as JSON text (`render.Rendered`), the rest as dicts.

    Samples (or daily summaries) come first, then Observations from healthcare; a cursor of
    kind "r" pages through the latter by offset.
    """
    scope = read.scope
    patient_id = str(read.person_id)
    if query.patient_ids and any(p != patient_id for p in query.patient_ids):
        return [], None, (0 if query.want_total or query.summary_count else None)
    found = sample_filter(query)
    total = None
    if query.want_total or query.summary_count:
        total = read.count_daily(found) if scope.daily_only else read.count_samples(found)
        total += resource_search.search(read, query, offset=0, limit=0)[1]
    if query.summary_count or query.count == 0:
        return [], None, total
    cursor = query.cursor
    page: list[dict[str, Any]] = []
    # A cursor from a raw listing under a daily-only consent, or the other way round: the
    # consent changed since that page.
    if (
        cursor is not None
        and cursor.kind != resource_search.OFFSET_KIND
        and (cursor.kind == "d") != scope.daily_only
    ):
        raise InvalidRequest(
            "This paging link belongs to a listing that no longer applies.",
            hint="Start the search again from its first page.",
        )
    if cursor is None or cursor.kind != resource_search.OFFSET_KIND:
        after = None if cursor is None else Key(cursor.at_ms, cursor.kind, cursor.row_id)
        rows = _sample_page(read, query, found, after)
        page = rows[: query.count]
        if len(rows) > query.count:
            last = rows[query.count - 1]
            resources = [item["resource"] for item in page]
            return resources, Cursor(last["key"].at_ms, last["key"].kind, last["key"].row_id), total
        offset = 0
    else:
        offset = cursor.row_id
    room = query.count - len(page)
    clinical, _total = resource_search.search(read, query, offset=offset, limit=room + 1)
    page += [{"resource": r} for r in clinical[:room]]
    next_cursor = resource_search.next_cursor(offset + room) if len(clinical) > room else None
    return [item["resource"] for item in page], next_cursor, total


def _sample_page(
    read: Reader, query: SearchQuery, found: SampleFilter, after: Key | None
) -> list[dict[str, Any]]:
    """Up to count+1 samples (or daily summaries) as {"resource", "key"}."""
    patient_id = str(read.person_id)
    if read.scope.daily_only:
        daily = read.daily(found, after=after, limit=query.count + 1, descending=query.descending)
        return [{"resource": render.daily_observation(r, patient_id), "key": r.key} for r in daily]
    rows = read.samples(found, after=after, limit=query.count + 1, descending=query.descending)
    return [{"resource": render.sample_resource(r, patient_id), "key": r.key} for r in rows]


def read_one(read: Reader, fhir_id: str) -> dict[str, Any] | None:
    """One Observation by id, or None when it is not there or outside the scope."""
    patient_id = str(read.person_id)
    if read.scope.daily_only:
        row = read.daily_by_id(fhir_id)
        return None if row is None else render.daily_observation(row, patient_id)
    parsed = observations.parse_id(fhir_id)
    if parsed is None:
        return resource_search.read(read, "Observation", fhir_id)
    rows = read.samples(SampleFilter(ids=(parsed,)), after=None, limit=1)
    return render.sample_observation(rows[0], patient_id) if rows else None
