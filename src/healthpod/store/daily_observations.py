"""Daily summaries (one row per person, type and local day) read under a consent scope.

What an actor with a daily-summaries-only consent gets instead of raw samples. The scope is
applied in SQL like for samples: the sample types of its categories, and its data window,
which a summary must lie inside entirely (first and last sample of the day), so a summary never
carries data from outside the window. Paging is by keyset on (day, type id); ids are
`d-<type code>-<yyyymmdd>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from healthpod.consent.model import Scope
from healthpod.store import rls, schema
from healthpod.store.observations import DailyRow, Key, SampleFilter
from healthpod.store.scope_sql import (
    among,
    ids_value,
    stored_types,
    summary_clauses,
    summary_visible,
    type_visible,
    visible_types,
    window,
)
from healthpod.store.search_values import DateBound
from healthpod.vocabulary import Aggregation, sample_type

_ID = re.compile(r"^d-([A-Za-z0-9_.]{1,80})-(\d{4})(\d{2})(\d{2})$")
DAY_MS = 86_400_000
d = schema.daily_summaries


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _day_of_ms(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=ms // DAY_MS)


def _where(person_id: int, scope: Scope, types: dict[str, int], found: SampleFilter) -> list[Any]:
    clauses: list[Any] = [d.c.person_id == person_id, d.c.type_id.in_(list(types.values()))]
    clauses += summary_clauses(d.c.first_ms, d.c.last_ms, scope)
    clauses += summary_visible(d, scope, types)
    for b in found.dates:
        clauses.append(_day_bound(b))
    return clauses


def _day_bound(b: DateBound) -> Any:
    """A date search bound on the summary's day (the day's UTC-midnight date)."""
    first, last = _day_of_ms(b.start_ms), _day_of_ms(b.end_ms - 1)
    match b.prefix:
        case "eq":
            return and_(d.c.day_on >= first, d.c.day_on <= last)
        case "ne":
            return or_(d.c.day_on < first, d.c.day_on > last)
        case "ge":
            return d.c.day_on >= first
        case "gt" | "sa":
            return d.c.day_on > last
        case "le":
            return d.c.day_on <= last
        case _:  # lt, eb
            return d.c.day_on < first


def _after(key: Key | None, desc: bool) -> list[Any]:
    if key is None:
        return []
    day = _day_of_ms(key.at_ms)
    if desc:
        return [or_(d.c.day_on < day, and_(d.c.day_on == day, d.c.type_id < key.row_id))]
    return [or_(d.c.day_on > day, and_(d.c.day_on == day, d.c.type_id > key.row_id))]


def _row(r: Any, code: str) -> DailyRow:
    known = sample_type(code)
    cumulative = known is None or known.aggregation is not Aggregation.DISCRETE
    count = int(r.sample_count)
    total = float(r.total or 0.0)
    unit = (known.unit if known else "") or ("min" if known and known.kind == "category" else "1")
    return DailyRow(
        type_code=code,
        day=r.day_on,
        offset_min=int(r.first_offset_min or 0),
        value=total if cumulative else (total / count if count else 0.0),
        unit=unit,
        statistic="sum" if cumulative else "mean",
        sample_count=count,
        minimum=None if cumulative else r.low,
        maximum=None if cumulative else r.high,
        type_id=int(r.type_id),
    )


def search(
    conn: Connection,
    person_id: int,
    scope: Scope,
    found: SampleFilter,
    *,
    after: Key | None,
    limit: int,
    descending: bool = False,
) -> list[DailyRow]:
    rls.act_for(conn, person_id)
    types = visible_types(conn, scope, found.type_codes)
    if not types or found.ids is not None:
        return []
    codes = {type_id: code for code, type_id in types.items()}
    order = (d.c.day_on.desc(), d.c.type_id.desc()) if descending else (d.c.day_on, d.c.type_id)
    query = (
        select(d)
        .where(*_where(person_id, scope, types, found), *_after(after, descending))
        .order_by(*order)
        .limit(limit)
    )
    return [_row(r, codes[r.type_id]) for r in conn.execute(query)]


def search_cohort(
    conn: Connection, scopes: Mapping[int, Scope], found: SampleFilter, *, limit: int
) -> dict[int, list[DailyRow]]:
    """`search` (first page, oldest first) for many persons at once, each within their own
    scope, in one query under row-level security's `cohort` scope: person id → their rows
    (a person with none is left out)."""
    by_person: dict[int, list[DailyRow]] = {}
    with rls.scoped(conn, "cohort"):
        planned = _cohort_query(conn, scopes, found, select(d))
        if planned is None:
            return by_person
        query, params, codes = planned
        for r in conn.execute(query, params):
            listed = by_person.setdefault(int(r.person_id), [])
            if len(listed) < limit:
                listed.append(_row(r, codes[r.type_id]))
    return by_person


class Means(NamedTuple):
    """One person's mean of their daily values (each clamped to the bounds), over the days
    read, and per month ("2025-03") when asked for."""

    mean: float
    days: int
    months: dict[str, float] | None = None


def means_cohort(
    conn: Connection,
    scopes: Mapping[int, Scope],
    found: SampleFilter,
    *,
    bounds: tuple[float, float],
    limit: int,
    per_month: bool = False,
) -> dict[int, Means]:
    """Each person's mean of the `DailyRow.value`s `search_cohort` would give (the first
    `limit` of them, each clamped to `bounds`): what an aggregate over a cohort is made of,
    without a row for each of 300,000 days. A person with no row is left out.

    On PostgreSQL the database adds the clamped values up in day order, so ten thousand
    persons send ten thousand rows (per month: one per person and month, the same days).
    """
    with rls.scoped(conn, "cohort"):
        codes = _visible_codes(conn, found)
        discrete = sorted(i for i, code in codes.items() if not _cumulative(code))
        total = func.coalesce(d.c.total, 0.0)
        # `DailyRow.value`: the total, or for a discrete type the mean (a division rounds
        # the same in the database as in Python).
        value: Any = total
        if discrete:
            value = case(
                (
                    d.c.type_id.in_(discrete),
                    func.coalesce(total / func.nullif(d.c.sample_count, 0), 0.0),
                ),
                else_=total,
            )
        columns = select(d.c.person_id, value.label("value"), d.c.day_on, d.c.type_id)
        planned = _cohort_query(conn, scopes, found, columns)
        if planned is None:
            return {}
        query, params, _ = planned
        if conn.dialect.name != "postgresql":
            return _means_of_rows(conn.execute(query, params), bounds, limit, per_month)
        return _means_in_postgres(conn, query, params, bounds, limit, per_month)


def _means_of_rows(
    rows: Iterable[Any], bounds: tuple[float, float], limit: int, per_month: bool
) -> dict[int, Means]:
    """`means_cohort` from the rows themselves (person, value, day, type; in day order)."""
    days: dict[int, list[tuple[date, float]]] = {}
    for person_id, number, day, _ in rows:
        listed = days.setdefault(int(person_id), [])
        if len(listed) < limit:
            listed.append((day, float(number)))
    return {p: _means(listed, bounds, per_month) for p, listed in days.items()}


def _means(days: list[tuple[date, float]], bounds: tuple[float, float], per_month: bool) -> Means:
    low, high = bounds
    clamped = [(day, min(max(v, low), high)) for day, v in days]
    months: dict[str, float] | None = None
    if per_month:
        by_month: dict[str, list[float]] = {}
        for day, v in clamped:
            by_month.setdefault(day.strftime("%Y-%m"), []).append(v)
        months = {month: sum(vs) / len(vs) for month, vs in by_month.items()}
    values = [v for _, v in clamped]
    return Means(sum(values) / len(values), len(values), months)


def _means_in_postgres(
    conn: Connection,
    query: Select[Any],
    params: dict[str, Any],
    bounds: tuple[float, float],
    limit: int,
    per_month: bool,
) -> dict[int, Means]:
    rows = query.order_by(None).subquery()
    value = func.least(func.greatest(rows.c.value, bounds[0]), bounds[1])
    # Added up in day order: the same additions, in the same order, as Python's over a list.
    added = func.sum(aggregate_order_by(value, rows.c.day_on, rows.c.type_id))
    month = func.to_char(rows.c.day_on, "YYYY-MM")
    grouped: list[Any] = [rows.c.person_id] + ([month] if per_month else [])
    statement = select(*grouped, added, func.count()).group_by(*grouped)
    found: dict[int, Means] = {}
    rows_found: list[Any] = list(conn.execute(statement, params))
    if not per_month:
        for person_id, summed, days in rows_found:
            found[int(person_id)] = Means(float(summed) / days, int(days))
    else:
        # The period's mean from the months' sums (added month by month): it only says
        # whether the person contributed; the months' means are what is answered.
        totals: dict[int, tuple[float, int, dict[str, float]]] = {}
        for person_id, label, summed, days in rows_found:
            grand, count, months = totals.get(int(person_id), (0.0, 0, {}))
            months[label] = float(summed) / days
            totals[int(person_id)] = (grand + float(summed), count + int(days), months)
        for person_id, (grand, count, months) in totals.items():
            found[person_id] = Means(grand / count, count, months)
    # More days than the limit (a period's edges can hold one more): those persons' first
    # `limit` days, read as rows. Numbering every person's days to cut them in the database
    # cost a third of the query.
    over = sorted(p for p, means in found.items() if means.days > limit)
    if over:
        cut = query.where(d.c.person_id.in_(over))
        found.update(_means_of_rows(conn.execute(cut, params), bounds, limit, per_month))
    return found


def _visible_codes(conn: Connection, found: SampleFilter) -> dict[int, str]:
    return {
        type_id: code
        for code, type_id in stored_types(conn)
        if found.type_codes is None or code in found.type_codes
    }


def _cumulative(code: str) -> bool:
    known = sample_type(code)
    return known is None or known.aggregation is not Aggregation.DISCRETE


def _cohort_query(
    conn: Connection, scopes: Mapping[int, Scope], found: SampleFilter, columns: Select[Any]
) -> tuple[Select[Any], dict[str, Any], dict[int, str]] | None:
    """The cohort's statement over `columns`, its parameters and type id → code; None when
    no one's scope shows any of the types asked for.

    Persons whose scopes ask the same of the table (visible types, data window, restricted
    records) share one clause of the query; a cohort that joined one study has one.
    """
    if not scopes or found.ids is not None:
        return None
    dialect = conn.dialect.name
    known = [
        (code, type_id)
        for code, type_id in stored_types(conn)
        if found.type_codes is None or code in found.type_codes
    ]
    groups: dict[tuple[Any, ...], tuple[Scope, dict[str, int], list[int]]] = {}
    for person_id, scope in sorted(scopes.items()):
        types = {c: i for c, i in known if type_visible(scope, c)}
        if types:
            key = (tuple(sorted(types.values())), *window(scope), scope.hides_records)
            groups.setdefault(key, (scope, types, []))[2].append(person_id)
    clauses: list[Any] = []
    params: dict[str, Any] = {}
    codes: dict[int, str] = {}
    for n, (scope, types, person_ids) in enumerate(groups.values()):
        name = f"ids_{n}"
        params[name] = ids_value(dialect, person_ids)
        codes.update({type_id: code for code, type_id in types.items()})
        where = [among(d.c.person_id, dialect, name), d.c.type_id.in_(sorted(types.values()))]
        where += summary_clauses(d.c.first_ms, d.c.last_ms, scope)
        where += summary_visible(d, scope, types)
        where += [_day_bound(b) for b in found.dates]
        clauses.append(and_(*where))
    if not clauses:
        return None
    query = columns.where(or_(*clauses)).order_by(d.c.person_id, d.c.day_on, d.c.type_id)
    return query, params, codes


def count(conn: Connection, person_id: int, scope: Scope, found: SampleFilter) -> int:
    rls.act_for(conn, person_id)
    types = visible_types(conn, scope, found.type_codes)
    if not types or found.ids is not None:
        return 0
    query = select(func.count()).select_from(d).where(*_where(person_id, scope, types, found))
    return int(conn.scalar(query) or 0)


def read(conn: Connection, person_id: int, scope: Scope, fhir_id: str) -> DailyRow | None:
    rls.act_for(conn, person_id)
    match = _ID.match(fhir_id)
    if match is None:
        return None
    try:
        day = date(int(match[2]), int(match[3]), int(match[4]))
    except ValueError:
        return None
    code = match[1].replace(".", "_")  # as `DailyRow.fhir_id` writes it
    types = visible_types(conn, scope, frozenset({code}))
    if not types:
        return None
    query = select(d).where(*_where(person_id, scope, types, SampleFilter()), d.c.day_on == day)
    row = conn.execute(query).first()
    return None if row is None else _row(row, code)
