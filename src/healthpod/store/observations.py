"""Samples read as Observations: searches and reads with a consent scope applied in SQL.

Every function takes the consent `Scope` of an allowed decision and turns it into WHERE
clauses (the sample types of the scope's categories, its data time window), so no row outside
the scope is ever fetched. Paging is by keyset: rows are ordered by (start_ms, kind, id) and a
page starts after the last key of the previous one, which stays fast on deep pages.

Three kinds of rows become Observations: "q" quantity samples, "c" category samples (sleep
stages) and "bp" blood-pressure correlations (systolic and diastolic as one panel; the two
component samples are not listed on their own). Ids are `<kind>-<row id>`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, and_, bindparam, func, not_, or_, select

from healthpod.consent.model import Scope
from healthpod.store import rls, schema
from healthpod.store.scope_sql import not_marked_wrong, record_visible, visible_types, window
from healthpod.store.search_values import DateBound
from healthpod.vocabulary import sample_type

KINDS = ("bp", "c", "q")  # the order of kinds among rows with the same start
BP_TYPES = ("blood_pressure_systolic", "blood_pressure_diastolic")
_ID = re.compile(r"^(q|c|bp)-(\d{1,18})$")


@dataclass(frozen=True, slots=True)
class SampleFilter:
    """What a search asks for, already checked: None means no restriction."""

    type_codes: frozenset[str] | None = None
    dates: tuple[DateBound, ...] = ()
    updated: tuple[DateBound, ...] = ()
    ids: tuple[tuple[str, int], ...] | None = None  # (kind, row id) pairs from `_id`

    def ids_of(self, kind: str) -> list[int] | None:
        """Row ids of `kind` asked for by `_id`, or None when `_id` was not given."""
        if self.ids is None:
            return None
        return [row_id for k, row_id in self.ids if k == kind]


class Key(NamedTuple):
    """Where a row sits in a listing: (start, kind, id). A page makes one per row."""

    at_ms: int
    kind: str
    row_id: int


class SampleRow(NamedTuple):
    """One sample as read (a NamedTuple: a page makes hundreds, and it is the cheapest)."""

    kind: str  # q|c|bp
    id: int
    type_code: str
    start_ms: int
    end_ms: int
    start_offset_min: int
    end_offset_min: int
    updated_ms: int
    value: float = 0.0
    unit: str = ""
    value_code: str = ""
    source_name: str | None = None
    components: tuple[tuple[str, float], ...] = ()

    @property
    def fhir_id(self) -> str:
        return f"{self.kind}-{self.id}"

    @property
    def key(self) -> Key:
        return Key(self.start_ms, self.kind, self.id)


@dataclass(frozen=True, slots=True)
class DailyRow:
    type_code: str
    day: date
    offset_min: int
    value: float
    unit: str
    statistic: str  # sum|mean
    sample_count: int
    minimum: float | None = None
    maximum: float | None = None
    type_id: int = 0

    @property
    def fhir_id(self) -> str:
        # FHIR ids hold letters, digits, "-" and "." only: a type code's "_" is written ".".
        return f"d-{self.type_code.replace('_', '.')}-{self.day.strftime('%Y%m%d')}"

    @property
    def key(self) -> Key:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return Key(int(start.timestamp() * 1000), "d", self.type_id)


class _Where(NamedTuple):
    """Conditions as a statement's shape (which there are) and the values they bind.

    Statements are built from the shape alone, so one built statement serves every request
    of that shape: building a SELECT cost more than running it (measured in bench/api.py).
    """

    shape: tuple[str, ...]
    values: dict[str, Any]


def _updated_where(bounds: Iterable[DateBound]) -> _Where:
    """`_lastUpdated` filters, bound as "upd<i>_start" and "upd<i>_end"."""
    shape: list[str] = []
    values: dict[str, Any] = {}
    for i, b in enumerate(bounds):
        shape.append(b.prefix)
        values[f"upd{i}_start"] = b.start_ms
        values[f"upd{i}_end"] = b.end_ms
    return _Where(tuple(shape), values)


def _updated_clauses(column: Any, shape: tuple[str, ...]) -> list[Any]:
    clauses = []
    for i, prefix in enumerate(shape):
        start: Any = bindparam(f"upd{i}_start")
        end: Any = bindparam(f"upd{i}_end")
        match prefix:
            case "eq":
                clauses.append(and_(column >= start, column < end))
            case "ne":
                clauses.append(or_(column < start, column >= end))
            case "ge":
                clauses.append(column >= start)
            case "gt" | "sa":
                clauses.append(column >= end)
            case "le":
                clauses.append(column < end)
            case "lt" | "eb":
                clauses.append(column < start)
    return clauses


def _start_where(
    kind: str, scope: Scope, dates: Iterable[DateBound], key: Key | None, desc: bool
) -> _Where:
    """The consent window, the date filters and the paging key on the start column, with
    all lower bounds folded into one and all upper bounds into one.

    SQLite ranges its index scan on the first bound it meets; given both "since 30 days
    ago" and "after the last page's key", it could walk from 30 days ago on every page.
    """
    lows: list[int] = []  # inclusive
    highs: list[int] = []  # exclusive
    not_between: list[DateBound] = []
    low, high = window(scope)
    if low is not None:
        lows.append(low)
    if high is not None:
        highs.append(high)
    for b in dates:
        match b.prefix:
            case "eq":
                lows.append(b.start_ms)
                highs.append(b.end_ms)
            case "ne":
                not_between.append(b)
            case "ge":
                lows.append(b.start_ms)
            case "gt" | "sa":
                lows.append(b.end_ms)
            case "le":
                highs.append(b.end_ms)
            case "lt" | "eb":
                highs.append(b.start_ms)
    shape: list[str] = []
    values: dict[str, Any] = {}
    if key is not None:
        later_kind = KINDS.index(kind) > KINDS.index(key.kind)
        if desc:  # (start, kind, id) before the key
            highs.append(key.at_ms if later_kind else key.at_ms + 1)
        else:  # after the key
            lows.append(key.at_ms if kind == key.kind or later_kind else key.at_ms + 1)
    if lows:
        shape.append("low")
        values["low"] = max(lows)
    if highs:
        shape.append("high")
        values["high"] = min(highs)
    for i, b in enumerate(not_between):
        shape.append("ne")
        values[f"ne{i}_start"] = b.start_ms
        values[f"ne{i}_end"] = b.end_ms
    if key is not None and kind == key.kind:
        shape.append("tie_desc" if desc else "tie")
        values["tie_at"] = key.at_ms
        values["tie_id"] = key.row_id
    return _Where(tuple(shape), values)


def _start_clauses(column: Any, id_column: Any, shape: tuple[str, ...]) -> list[Any]:
    clauses: list[Any] = []
    not_between = 0
    for part in shape:
        match part:
            case "low":
                clauses.append(column >= bindparam("low"))
            case "high":
                clauses.append(column < bindparam("high"))
            case "ne":
                clauses.append(
                    or_(
                        column < bindparam(f"ne{not_between}_start"),
                        column >= bindparam(f"ne{not_between}_end"),
                    )
                )
                not_between += 1
            case "tie":  # rows at the key's instant up to the key's id are on earlier pages
                tie = and_(column == bindparam("tie_at"), id_column <= bindparam("tie_id"))
                clauses.append(not_(tie))
            case "tie_desc":
                tie = and_(column == bindparam("tie_at"), id_column >= bindparam("tie_id"))
                clauses.append(not_(tie))
    return clauses


def _time_conditions(
    table: Any,
    kind: str,
    scope: Scope,
    sample_filter: SampleFilter,
    key: Key | None = None,
    desc: bool = False,
) -> tuple[list[Any], dict[str, Any]]:
    """The start-range and `_lastUpdated` conditions on a sample table, with their values."""
    start = _start_where(kind, scope, sample_filter.dates, key, desc)
    updated = _updated_where(sample_filter.updated)
    return _time_clauses(table, start.shape, updated.shape), {**start.values, **updated.values}


def _time_clauses(table: Any, start: tuple[str, ...], updated: tuple[str, ...]) -> list[Any]:
    return [
        *_start_clauses(table.c.start_ms, table.c.id, start),
        *_updated_clauses(func.coalesce(table.c.created_ms, table.c.end_ms), updated),
    ]


@dataclass(frozen=True, slots=True)
class _Plan:
    person_id: int
    scope: Scope
    types: dict[str, int]
    filter: SampleFilter


def _quantity_selects(
    plan: _Plan, key: Key | None, desc: bool, limit: int
) -> list[tuple[Select[Any], dict[str, Any]]]:
    """(statement, values) per quantity type of the plan."""
    bp_ids = [plan.types[c] for c in BP_TYPES if c in plan.types]
    only = plan.filter.ids_of("q")
    if only == []:
        return []
    start = _start_where("q", plan.scope, plan.filter.dates, key, desc)
    updated = _updated_where(plan.filter.updated)
    selects = []
    for code, type_id in plan.types.items():
        if sample_type(code) is not None and sample_type(code).kind == "category":  # type: ignore[union-attr]
            continue
        statement = _quantity_select(
            start.shape,
            updated.shape,
            only is not None,
            type_id in bp_ids,
            desc,
            limit,
            plan.scope.hides_records,
            plan.scope.hides_wrong,
        )
        values = {"person_id": plan.person_id, "type_id": type_id, **start.values}
        values.update(updated.values)
        if only is not None:
            values["only"] = only
        selects.append((statement, values))
    return selects


@functools.lru_cache(maxsize=256)
def _quantity_select(
    start: tuple[str, ...],
    updated: tuple[str, ...],
    by_id: bool,
    blood_pressure: bool,
    desc: bool,
    limit: int,
    hides_records: bool = False,
    hides_wrong: bool = False,
) -> Select[Any]:
    q = schema.quantity_samples
    where = [
        q.c.person_id == bindparam("person_id"),
        q.c.type_id == bindparam("type_id"),
        *_time_clauses(q, start, updated),
    ]
    if by_id:
        where.append(q.c.id.in_(bindparam("only", expanding=True)))
    if blood_pressure:  # its two parts are listed as one panel
        where.append(q.c.correlation_id.is_(None))
    if hides_records:
        where.append(record_visible(q, "q"))
    if hides_wrong:
        where.append(not_marked_wrong(q, "q"))
    order = (q.c.start_ms.desc(), q.c.id.desc()) if desc else (q.c.start_ms, q.c.id)
    return (
        select(*_QUANTITY_COLUMNS)
        .join(schema.sources, schema.sources.c.id == q.c.source_id)
        .where(*where)
        .order_by(*order)
        .limit(limit)
    )


def search_samples(
    conn: Connection,
    person_id: int,
    scope: Scope,
    sample_filter: SampleFilter,
    *,
    after: Key | None,
    limit: int,
    descending: bool = False,
) -> list[SampleRow]:
    """Up to `limit` rows inside `scope` matching the filter, after the key `after`."""
    rls.act_for(conn, person_id)
    types = visible_types(conn, scope, sample_filter.type_codes)
    if not types or limit <= 0:
        return []
    plan = _Plan(person_id, scope, types, sample_filter)
    found: list[SampleRow] = []
    found += _fetch_quantities(conn, plan, after, descending, limit)
    found += _fetch_categories(conn, plan, after, descending, limit)
    found += _fetch_pressures(conn, plan, after, descending, limit)
    found.sort(key=lambda r: (r.start_ms, KINDS.index(r.kind), r.id), reverse=descending)
    return found[:limit]


def quantity_pages(
    conn: Connection, person_id: int, scope: Scope, type_code: str, *, page: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Every quantity sample of one type inside `scope`, a page at a time in (start, id)
    order (the order `search_samples` gives them), as the driver's tuples (id, type_id,
    start_ms, end_ms, start_offset_min, end_offset_min, created_ms, value, unit, source
    name): for a reader of everything (the export), which would otherwise make and sort a
    `SampleRow` per sample. A blood pressure's parts are left out, as there."""
    rls.act_for(conn, person_id)
    types = visible_types(conn, scope, frozenset({type_code}))
    if not types:
        return
    plan = _Plan(person_id, scope, types, SampleFilter(type_codes=frozenset({type_code})))
    key: Key | None = None
    while True:
        rows = [
            row
            for query, values in _quantity_selects(plan, key, False, page)
            for row in conn.execute(query, values).cursor.fetchall()
        ]
        if rows:
            yield rows
        if len(rows) < page:
            return
        key = Key(rows[-1][2], "q", rows[-1][0])


# In the order `_fetch_quantities` unpacks them; the source's name comes by a join (a
# primary-key lookup per row is cheaper than a second query).
_QUANTITY_COLUMNS = (
    schema.quantity_samples.c.id,
    schema.quantity_samples.c.type_id,
    schema.quantity_samples.c.start_ms,
    schema.quantity_samples.c.end_ms,
    schema.quantity_samples.c.start_offset_min,
    schema.quantity_samples.c.end_offset_min,
    schema.quantity_samples.c.created_ms,
    schema.quantity_samples.c.value,
    schema.quantity_samples.c.unit,
    schema.sources.c.name,
)


def _fetch_quantities(
    conn: Connection, plan: _Plan, key: Key | None, desc: bool, limit: int
) -> list[SampleRow]:
    codes = {type_id: code for code, type_id in plan.types.items()}
    # The driver's plain tuples, unpacked by position: a page is hundreds of rows, and
    # SQLAlchemy's Row objects (fetched one at a time) cost more than the query.
    found = [
        row
        for query, values in _quantity_selects(plan, key, desc, limit)
        for row in conn.execute(query, values).cursor.fetchall()
    ]
    return [
        SampleRow(
            "q",
            row_id,
            codes[type_id],
            start_ms,
            end_ms,
            start_offset,
            end_offset,
            end_ms if created_ms is None else created_ms,
            float(value),
            unit,
            "",
            source_name,
        )
        for (
            row_id,
            type_id,
            start_ms,
            end_ms,
            start_offset,
            end_offset,
            created_ms,
            value,
            unit,
            source_name,
        ) in found
    ]


def _fetch_categories(
    conn: Connection, plan: _Plan, key: Key | None, desc: bool, limit: int
) -> list[SampleRow]:
    c = schema.category_samples
    codes = {
        type_id: code
        for code, type_id in plan.types.items()
        if sample_type(code) is None or sample_type(code).kind == "category"  # type: ignore[union-attr]
    }
    only = plan.filter.ids_of("c")
    if not codes or only == []:
        return []
    order = (c.c.start_ms.desc(), c.c.id.desc()) if desc else (c.c.start_ms, c.c.id)
    times, values = _time_conditions(c, "c", plan.scope, plan.filter, key, desc)
    query = (
        select(c, schema.sources.c.name.label("source_name"))
        .join(schema.sources, schema.sources.c.id == c.c.source_id)
        .where(
            c.c.person_id == plan.person_id,
            c.c.type_id.in_(list(codes)),
            *times,
            *([c.c.id.in_(only)] if only else []),
            *([record_visible(c, "c")] if plan.scope.hides_records else []),
            *([not_marked_wrong(c, "c")] if plan.scope.hides_wrong else []),
        )
        .order_by(*order)
        .limit(limit)
    )
    return [
        SampleRow(
            kind="c",
            id=int(r.id),
            type_code=codes[r.type_id],
            start_ms=int(r.start_ms),
            end_ms=int(r.end_ms),
            start_offset_min=int(r.start_offset_min),
            end_offset_min=int(r.end_offset_min),
            updated_ms=int(r.created_ms if r.created_ms is not None else r.end_ms),
            value_code=str(r.value_code),
            source_name=r.source_name,
        )
        for r in conn.execute(query, values)
    ]


def _fetch_pressures(
    conn: Connection, plan: _Plan, key: Key | None, desc: bool, limit: int
) -> list[SampleRow]:
    only = plan.filter.ids_of("bp")
    if not all(code in plan.types for code in BP_TYPES) or only == []:
        return []
    k = schema.correlations
    order = (k.c.start_ms.desc(), k.c.id.desc()) if desc else (k.c.start_ms, k.c.id)
    times, values = _time_conditions(k, "bp", plan.scope, plan.filter, key, desc)
    query = (
        select(k, schema.sources.c.name.label("source_name"))
        .join(schema.sources, schema.sources.c.id == k.c.source_id)
        .where(
            k.c.person_id == plan.person_id,
            k.c.type_code == "blood_pressure",
            *times,
            *([k.c.id.in_(only)] if only else []),
            *([record_visible(k, "bp")] if plan.scope.hides_records else []),
            *([not_marked_wrong(k, "bp")] if plan.scope.hides_wrong else []),
        )
        .order_by(*order)
        .limit(limit)
    )
    found = list(conn.execute(query, values))
    if not found:
        return []
    q = schema.quantity_samples
    parts: dict[int, list[tuple[str, float]]] = {}
    bp_ids = {plan.types[c]: c for c in BP_TYPES}
    for corr_id, type_id, value in conn.execute(
        select(q.c.correlation_id, q.c.type_id, q.c.value).where(
            q.c.person_id == plan.person_id,
            q.c.correlation_id.in_([r.id for r in found]),
            q.c.type_id.in_(list(bp_ids)),
        )
    ):
        parts.setdefault(int(corr_id), []).append((bp_ids[type_id], float(value)))
    return [
        SampleRow(
            kind="bp",
            id=int(r.id),
            type_code="blood_pressure",
            start_ms=int(r.start_ms),
            end_ms=int(r.end_ms),
            start_offset_min=int(r.start_offset_min),
            end_offset_min=int(r.end_offset_min),
            updated_ms=int(r.created_ms if r.created_ms is not None else r.end_ms),
            source_name=r.source_name,
            components=tuple(sorted(parts.get(int(r.id), []), key=lambda p: BP_TYPES.index(p[0]))),
        )
        for r in found
    ]


def count_samples(
    conn: Connection, person_id: int, scope: Scope, sample_filter: SampleFilter
) -> int:
    """How many rows `search_samples` would page through: only rows inside the scope."""
    rls.act_for(conn, person_id)
    types = visible_types(conn, scope, sample_filter.type_codes)
    if not types:
        return 0
    plan = _Plan(person_id, scope, types, sample_filter)
    total = 0
    for inner, values in _quantity_selects(plan, None, False, 10**12):
        total += int(conn.scalar(select(func.count()).select_from(inner.subquery()), values) or 0)
    c = schema.category_samples
    cat_ids = [
        i
        for code, i in types.items()
        if sample_type(code) is None or sample_type(code).kind == "category"  # type: ignore[union-attr]
    ]
    if cat_ids:
        times, values = _time_conditions(c, "c", scope, sample_filter)
        if scope.hides_records:
            times.append(record_visible(c, "c"))
        if scope.hides_wrong:
            times.append(not_marked_wrong(c, "c"))
        counted = select(func.count()).where(
            c.c.person_id == person_id, c.c.type_id.in_(cat_ids), *times
        )
        total += int(conn.scalar(counted, values) or 0)
    if all(code in types for code in BP_TYPES):
        k = schema.correlations
        times, values = _time_conditions(k, "bp", scope, sample_filter)
        if scope.hides_records:
            times.append(record_visible(k, "bp"))
        if scope.hides_wrong:
            times.append(not_marked_wrong(k, "bp"))
        counted = select(func.count()).where(
            k.c.person_id == person_id, k.c.type_code == "blood_pressure", *times
        )
        total += int(conn.scalar(counted, values) or 0)
    return total


def parse_id(fhir_id: str) -> tuple[str, int] | None:
    """(kind, row id) of an Observation id we made, or None."""
    match = _ID.match(fhir_id)
    return None if match is None else (match[1], int(match[2]))
