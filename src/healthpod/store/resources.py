"""Clinical FHIR resources kept whole: write them, read one, search them under a consent scope.

A resource is keyed by person, resource type and FHIR id. Writing the same content again changes
nothing; a different version of the same resource replaces the stored one (its version number
goes up) unless the stored one is provably newer (`meta.lastUpdated`).

Reading and searching take the `Scope` of the caller (required: there is no unscoped read) and
apply it INSIDE the SQL query through `scope_sql.resource_clauses`. A resource outside the
scope is simply not found, so the caller answers 404 or an empty Bundle and never confirms
that it exists.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from healthpod.consent.model import Scope
from healthpod.errors import InvalidRequest
from healthpod.store import rls, schema
from healthpod.store.resource_index import category_of, clinical_date, date_range, status_of
from healthpod.store.resource_index import tokens_of as _tokens_of
from healthpod.store.scope_sql import resource_clauses
from healthpod.store.search_values import DateBound, Token

Provenance = Literal["professional", "person", "device", "actor"]
PROVENANCES: tuple[str, ...] = ("professional", "person", "device", "actor")

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CHUNK = 500
_COPY_FROM = 50  # rows; fewer go by INSERT
_r = schema.resources
_t = schema.resource_tokens


def canonical_json(resource: dict[str, Any]) -> str:
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_id(resource: dict[str, Any]) -> str:
    """An id for a resource that has none: the SHA-256 of its content (64 hex digits)."""
    return hashlib.sha256(canonical_json(resource).encode()).hexdigest()


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceInput:
    """One resource to store; `resource["id"]` must be a valid FHIR id."""

    resource: dict[str, Any]
    provenance: Provenance = "professional"
    source_file: str | None = None
    organisation: str | None = None


@dataclass
class WriteResult:
    added: Counter[str] = field(default_factory=Counter)  # per resource type
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)  # already stored as they are
    kept_stored: list[str] = field(default_factory=list)  # "Type/id" where ours was newer
    superseded: list[str] = field(default_factory=list)  # "Type/id" given twice in one batch


def write(
    conn: Connection,
    person_id: int,
    inputs: Sequence[ResourceInput],
    *,
    import_id: int | None = None,
    now_ms: int | None = None,
) -> WriteResult:
    """Store resources for a person: insert new ones, replace changed ones, skip identical ones.

    Runs in the caller's transaction. Within `inputs`, a later resource with the same type and
    id wins over an earlier one.

    Raises:
        InvalidRequest: a resource has no resourceType, or an id that is not a FHIR id.
    """
    rls.act_for(conn, person_id)
    result = WriteResult()
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    latest: dict[tuple[str, str], ResourceInput] = {}
    for item in inputs:
        resource_type, fhir_id = item.resource.get("resourceType"), item.resource.get("id")
        if not isinstance(resource_type, str) or not is_valid_id(fhir_id):
            raise InvalidRequest(
                f"A {resource_type or 'resource'} has no valid id ({fhir_id!r}).",
                hint="FHIR ids are 1-64 letters, digits, '-' and '.'.",
            )
        assert isinstance(fhir_id, str)
        if (resource_type, fhir_id) in latest:
            result.superseded.append(f"{resource_type}/{fhir_id}")
        latest[(resource_type, fhir_id)] = item
    keys = list(latest)
    for start in range(0, len(keys), _CHUNK):
        _write_chunk(conn, person_id, keys[start : start + _CHUNK], latest, import_id, now, result)
    return result


def _write_chunk(
    conn: Connection,
    person_id: int,
    keys: list[tuple[str, str]],
    latest: dict[tuple[str, str], ResourceInput],
    import_id: int | None,
    now: int,
    result: WriteResult,
) -> None:
    stored = {
        (row.resource_type, row.fhir_id): row
        for row in conn.execute(
            select(
                _r.c.id,
                _r.c.resource_type,
                _r.c.fhir_id,
                _r.c.content_sha256,
                _r.c.last_updated_ms,
                _r.c.version_id,
                _r.c.json,
            ).where(_r.c.person_id == person_id, _r.c.fhir_id.in_({k[1] for k in keys}))
        )
    }
    new_rows: list[dict[str, Any]] = []
    for key in keys:
        item = latest[key]
        row = _row(person_id, item, import_id, now)
        old = stored.get(key)
        if old is None:
            new_rows.append(row)
        elif old.content_sha256 == row["content_sha256"]:
            result.unchanged[key[0]] += 1
        elif _stored_is_newer(old.json, item.resource):
            result.unchanged[key[0]] += 1
            result.kept_stored.append(f"{key[0]}/{key[1]}")
        else:
            row["version_id"] = old.version_id + 1
            conn.execute(update(_r).where(_r.c.id == old.id).values(**row))
            conn.execute(delete(_t).where(_t.c.resource_id == old.id))
            _insert_tokens(conn, person_id, [(old.id, item.resource)])
            result.updated[key[0]] += 1
    if not new_rows:
        return
    ids: Iterable[int]
    if _copied(conn, new_rows):
        # Many at once on PostgreSQL (an import): ids first, then one COPY and one insert.
        from healthpod.store.pg_copy import Staging

        staging = Staging.of(conn)
        ids = staging.next_ids(_r, len(new_rows))
        staging.insert_all(_r, [{"id": pk, **row} for pk, row in zip(ids, new_rows, strict=True)])
    else:
        ids = conn.execute(
            insert(_r).returning(_r.c.id, sort_by_parameter_order=True), new_rows
        ).scalars()
    _insert_tokens(
        conn, person_id, [(pk, row["json"]) for pk, row in zip(ids, new_rows, strict=True)]
    )
    for row in new_rows:
        result.added[row["resource_type"]] += 1


def _row(person_id: int, item: ResourceInput, import_id: int | None, now: int) -> dict[str, Any]:
    resource = item.resource
    when = clinical_date(resource)
    meta = resource.get("meta")
    updated = date_range(meta.get("lastUpdated", "")) if isinstance(meta, dict) else None
    return {
        "person_id": person_id,
        "resource_type": resource["resourceType"],
        "fhir_id": resource["id"],
        "version_id": 1,
        "json": resource,
        "content_sha256": hashlib.sha256(canonical_json(resource).encode()).hexdigest(),
        "provenance": item.provenance,
        "category": category_of(resource).value,
        "status": status_of(resource),
        "effective_start_ms": when.start_ms if when else None,
        "effective_end_ms": when.end_ms if when else None,
        "last_updated_ms": updated.start_ms if updated else now,
        "import_id": import_id,
        "source_file": item.source_file[:1000] if item.source_file else None,
        "organisation": item.organisation[:500] if item.organisation else None,
    }


def _stored_is_newer(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    def last_updated(resource: dict[str, Any]) -> int | None:
        meta = resource.get("meta")
        found = date_range(meta.get("lastUpdated", "")) if isinstance(meta, dict) else None
        return found.start_ms if found else None

    ours, theirs = last_updated(stored), last_updated(incoming)
    return ours is not None and theirs is not None and ours > theirs


def _insert_tokens(
    conn: Connection, person_id: int, resources: list[tuple[int, dict[str, Any]]]
) -> None:
    rows = [
        {
            "person_id": person_id,
            "resource_id": pk,
            "param": token.param,
            "system": token.system,
            "code": token.code,
        }
        for pk, resource in resources
        for token in _tokens_of(resource)
    ]
    if _copied(conn, rows):
        from healthpod.store.pg_copy import Staging

        Staging.of(conn).insert_all(_t, rows)
    elif rows:
        conn.execute(insert(_t), rows)


def _copied(conn: Connection, rows: Sequence[object]) -> bool:
    """Whether to write these rows by COPY (`pg_copy`): many of them, on PostgreSQL, outside
    a savepoint (whose rollback could take a staging table the transaction still counts on)."""
    return (
        len(rows) >= _COPY_FROM
        and conn.dialect.name == "postgresql"
        and not conn.in_nested_transaction()
    )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredResource:
    resource_type: str
    fhir_id: str
    version_id: int
    resource: dict[str, Any]  # the FHIR JSON as stored (references rewritten to Type/id)
    last_updated_ms: int
    provenance: str
    category: str
    status: str | None
    effective_start_ms: int | None
    effective_end_ms: int | None
    import_id: int | None
    source_file: str | None
    organisation: str | None


def read(
    conn: Connection,
    person_id: int,
    resource_type: str,
    fhir_id: str,
    *,
    scope: Scope,
) -> StoredResource | None:
    """One resource of a person, or None when there is none or the scope does not cover it."""
    rls.act_for(conn, person_id)
    query = (
        select(_r)
        .where(_r.c.person_id == person_id, _r.c.resource_type == resource_type)
        .where(_r.c.fhir_id == fhir_id, *resource_clauses(scope))
    )
    row = conn.execute(query).one_or_none()
    return None if row is None else _stored(row)


def _stored(row: Any) -> StoredResource:
    return StoredResource(
        resource_type=row.resource_type,
        fhir_id=row.fhir_id,
        version_id=row.version_id,
        resource=row.json,
        last_updated_ms=row.last_updated_ms,
        provenance=row.provenance,
        category=row.category,
        status=row.status,
        effective_start_ms=row.effective_start_ms,
        effective_end_ms=row.effective_end_ms,
        import_id=row.import_id,
        source_file=row.source_file,
        organisation=row.organisation,
    )


# --- searching --------------------------------------------------------------------------------


SORTS = {
    "date": (_r.c.effective_start_ms, False),
    "-date": (_r.c.effective_start_ms, True),
    "_lastUpdated": (_r.c.last_updated_ms, False),
    "-_lastUpdated": (_r.c.last_updated_ms, True),
    "_id": (_r.c.fhir_id, False),
    "-_id": (_r.c.fhir_id, True),
}


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int  # matches within the scope, before limit and offset
    resources: list[StoredResource]


def search(
    conn: Connection,
    person_id: int,
    resource_type: str | None,
    *,
    ids: Sequence[str] = (),
    codes: Sequence[Token] = (),
    categories: Sequence[Token] = (),
    identifiers: Sequence[Token] = (),
    dates: Sequence[DateBound] = (),
    status: Sequence[str] = (),
    last_updated: Sequence[DateBound] = (),
    sort: Sequence[str] = ("-date",),
    limit: int = 50,
    offset: int = 0,
    scope: Scope,
) -> SearchPage:
    """A person's resources of one type (None: every type) matching every given criterion.

    Within one criterion the values are alternatives (FHIR's comma): `codes` matches the
    `code` element's codings (Observation.code, Condition.code, Immunization.vaccineCode,
    MedicationRequest.medicationCodeableConcept, Encounter.type, …), `categories` the
    `category` codings, `identifiers` the `identifier` (system|value), `status` the status
    (or clinicalStatus) code. Across criteria they all
    must hold (FHIR's &), and each `dates` / `last_updated` bound must hold (so `ge2020&lt2021`
    is two bounds). Dates compare the resource's clinical date range with FHIR's prefixes.

    `sort` takes `date`, `-date`, `_lastUpdated`, `-_lastUpdated`, `_id`, `-_id`; ties break
    by the stored row id so paging with `limit`/`offset` is stable.

    The caller's `scope` is part of the WHERE clause, so `total` counts only what the caller
    may see.

    Raises:
        InvalidRequest: an unknown sort key, or a negative limit or offset.
    """
    rls.act_for(conn, person_id)
    if limit < 0 or offset < 0:
        raise InvalidRequest("_count and the page offset cannot be negative.")
    where: list[ColumnElement[bool]] = [_r.c.person_id == person_id]
    if resource_type is not None:
        where.append(_r.c.resource_type == resource_type)
    if ids:
        where.append(_r.c.fhir_id.in_(list(ids)))
    if codes:
        where.append(_token_match("code", codes))
    if categories:
        where.append(_token_match("category", categories))
    if identifiers:
        where.append(_token_match("identifier", identifiers))
    if status:
        where.append(_r.c.status.in_(list(status)))
    where.extend(bound.on_range(_r.c.effective_start_ms, _r.c.effective_end_ms) for bound in dates)
    where.extend(
        bound.on_range(_r.c.last_updated_ms, _r.c.last_updated_ms) for bound in last_updated
    )
    where.extend(resource_clauses(scope))
    total = conn.execute(select(func.count()).select_from(_r).where(*where)).scalar_one()
    query: Select[Any] = select(_r).where(*where)
    for key in sort:
        if key not in SORTS:
            raise InvalidRequest(
                f"Cannot sort by {key!r}.", hint=f"Sort by one of: {', '.join(SORTS)}."
            )
        column, descending = SORTS[key]
        query = query.order_by(column.desc().nulls_last() if descending else column.asc())
    query = query.order_by(_r.c.id).limit(limit).offset(offset)
    return SearchPage(int(total), [_stored(row) for row in conn.execute(query)])


def _token_match(param: str, tokens: Sequence[Token]) -> ColumnElement[bool]:
    alternatives: list[ColumnElement[bool]] = []
    for token in tokens:
        parts: list[ColumnElement[bool]] = []
        if token.code is not None:
            parts.append(_t.c.code == token.code)
        if token.system == "":
            parts.append(_t.c.system.is_(None))
        elif token.system is not None:
            parts.append(_t.c.system == token.system)
        alternatives.append(and_(*parts))
    return exists(
        select(_t.c.id).where(
            _t.c.resource_id == _r.c.id,
            _t.c.person_id == _r.c.person_id,
            _t.c.param == param,
            or_(*alternatives),
        )
    )
