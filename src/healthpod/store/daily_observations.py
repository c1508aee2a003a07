"""Daily summaries (one row per person, type and local day) read under a consent scope.

What an actor with a daily-summaries-only consent gets instead of raw samples. The scope is
applied in SQL like for samples: the sample types of its categories, and its data window,
which a summary must lie inside entirely (first and last sample of the day), so a summary never
carries data from outside the window. Paging is by keyset on (day, type id); ids are
`d-<type code>-<yyyymmdd>`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from healthpod.consent.model import Scope
from healthpod.store import rls, schema
from healthpod.store.observations import DailyRow, Key, SampleFilter
from healthpod.store.scope_sql import summary_clauses, summary_visible, visible_types
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
