"""The one place a `Scope` becomes SQL: which sample types, which data window, which records.

Every read of a person's data applies these, so what a consent (and the caller's token) does
not cover is never fetched, counted or rendered. One reading of a data window everywhere: a
datum is inside when the instant it starts at is inside `[data_from_ms, data_to_ms)`; a daily
summary when every sample it sums is (its first and last sample's start); a record from
healthcare when its clinical date starts inside, and a record without a clinical date is
outside any bounded window (deny by default). What the person marked "only me" (the scope's
`hidden_types`, and each restricted record when `hides_records`) is never inside, and what
the person marked wrong (`hides_wrong`) is inside no scope at all, the person's own included.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    or_,
    select,
    text,
)

from healthpod.consent.model import Scope
from healthpod.store import rls, schema
from healthpod.vocabulary import IDENTITY_RESOURCES, Category, sample_type

_SAMPLE_TYPES_SQL = f"SELECT code, id FROM {schema.sample_types.name}"  # noqa: S608 - ours
_r = schema.resources
_t = schema.resource_tokens
_x = schema.restrictions
_w = schema.marked_wrong


@functools.cache
def type_category(code: str) -> str:
    """The consent category of a sample type (unknown types are "other")."""
    known = sample_type(code)
    return (known.category if known else Category.OTHER).value


@functools.cache
def _fhir_category(code: str) -> str | None:
    known = sample_type(code)
    return known.fhir_category if known else None


def type_visible(scope: Scope, code: str) -> bool:
    """Whether samples of type `code` are inside the scope's categories (and token limit)."""
    if not scope.covers_category(type_category(code)) or code in scope.hidden_types:
        return False
    limit = scope.observation_categories
    return limit is None or _fhir_category(code) in limit


def stored_types(conn: Connection) -> list[tuple[str, int]]:
    """(code, id) of every stored sample type (shared by every person)."""
    # Read on every search (a type can arrive with any import); a constant statement.
    return [(str(code), int(type_id)) for code, type_id in conn.exec_driver_sql(_SAMPLE_TYPES_SQL)]


def visible_types(conn: Connection, scope: Scope, wanted: frozenset[str] | None) -> dict[str, int]:
    """code → id of the stored sample types the scope (and the query's `wanted`) may see."""
    rows = stored_types(conn)
    return {
        code: type_id
        for code, type_id in rows
        if (wanted is None or code in wanted) and type_visible(scope, code)
    }


def window(scope: Scope) -> tuple[int | None, int | None]:
    """(lowest start, inclusive; highest start, exclusive) of data inside the scope."""
    return scope.data_from_ms, scope.data_to_ms


def start_clauses(column: Any, scope: Scope) -> list[ColumnElement[bool]]:
    """The data window on a column holding the instant a datum starts at."""
    low, high = window(scope)
    clauses: list[ColumnElement[bool]] = []
    if low is not None:
        clauses.append(column >= low)
    if high is not None:
        clauses.append(column < high)
    return clauses


def summary_clauses(first: Any, last: Any, scope: Scope) -> list[ColumnElement[bool]]:
    """The data window on an aggregate: every sample it sums must start inside."""
    low, high = window(scope)
    clauses: list[ColumnElement[bool]] = []
    if low is not None:
        clauses.append(first >= low)
    if high is not None:
        clauses.append(last < high)
    return clauses


def resource_clauses(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope on `resources`: categories, window, granularity and the token's limit.

    Under a daily-summaries-only scope no record from healthcare is returned: granularity is
    about samples, and deny is the default where a consent does not say.
    """
    if scope.daily_only:
        return [false()]
    allowed = sorted(scope.categories)
    clauses: list[ColumnElement[bool]] = [_r.c.category.in_(allowed) if allowed else false()]
    if not scope.sees_identity:
        # Whatever category a record of who the person is was stored under (an older pod
        # filed a Patient from healthcare under other-records), it needs identity.
        clauses.append(_r.c.resource_type.not_in(sorted(IDENTITY_RESOURCES)))
    clauses += start_clauses(_r.c.effective_start_ms, scope)
    if scope.hidden_types:
        clauses.append(_r.c.resource_type.not_in(sorted(scope.hidden_types)))
    if scope.hides_records:
        clauses.append(record_visible(_r, "r"))
    if scope.hides_wrong:
        clauses.append(not_marked_wrong(_r, "r"))
    limit = scope.observation_categories
    if limit is not None:
        in_limit = exists(
            select(_t.c.id).where(
                _t.c.resource_id == _r.c.id,
                _t.c.person_id == _r.c.person_id,
                _t.c.param == "category",
                _t.c.code.in_(sorted(limit)) if limit else false(),
            )
        )
        clauses.append(or_(_r.c.resource_type != "Observation", and_(in_limit)))
    return clauses


def record_visible(table: Any, kind: str) -> ColumnElement[bool]:
    """Not restricted by the person: a row of `table` (q|c|bp sample rows, r resources).

    Only for a scope whose `hides_records` is set: with no record restricted the clause is
    left out, and the search's statement stays what it was."""
    return ~exists(
        select(_x.c.id).where(
            _x.c.person_id == table.c.person_id, _x.c.kind == kind, _x.c.row_id == table.c.id
        )
    )


def summary_visible(summary: Any, scope: Scope, types: dict[str, int]) -> list[ColumnElement[bool]]:
    """A daily summary holding no restricted sample (none when nothing is restricted).

    A sum of a day with a restricted sample in it would carry that sample's value, so the
    whole day is left out of every scope that hides records."""
    if not scope.hides_records:
        return []
    bp_ids = [
        types[c] for c in ("blood_pressure_systolic", "blood_pressure_diastolic") if c in types
    ]
    same_type = _x.c.type_id == summary.c.type_id
    if bp_ids:
        same_type = or_(same_type, and_(_x.c.kind == "bp", summary.c.type_id.in_(bp_ids)))
    return [
        ~exists(
            select(_x.c.id).where(
                _x.c.person_id == summary.c.person_id,
                _x.c.level == "record",
                _x.c.start_ms >= summary.c.first_ms,
                _x.c.start_ms <= summary.c.last_ms,
                same_type,
            )
        )
    ]


def not_marked_wrong(table: Any, kind: str) -> ColumnElement[bool]:
    """Not marked wrong by the person: a row of `table` (q|c|bp samples, w workouts, r
    resources). Only for a scope whose `hides_wrong` is set, as `record_visible`."""
    return ~exists(
        select(_w.c.id).where(
            _w.c.person_id == table.c.person_id, _w.c.kind == kind, _w.c.row_id == table.c.id
        )
    )


def not_marked_wrong_sql(alias: str, kind: str) -> str:
    """`not_marked_wrong` as text, for the statistics' own SQL over sample table `alias`
    (`kind` is q or c: ours, never input)."""
    assert kind in ("q", "c")
    return (
        f"NOT EXISTS (SELECT 1 FROM {_w.name} w WHERE w.person_id = {alias}.person_id "  # noqa: S608
        f"AND w.kind = '{kind}' AND w.row_id = {alias}.id)"
    )


def any_marked_wrong(conn: Connection, person_id: int) -> bool:
    """Whether the person marked anything wrong (one indexed lookup)."""
    rls.act_for(conn, person_id)
    found = conn.execute(select(_w.c.id).where(_w.c.person_id == person_id).limit(1)).first()
    return found is not None


def among(column: Any, dialect: str, name: str = "ids") -> ColumnElement[bool]:
    """`column` is one of the person ids bound as `name` (a cohort: thousands of them) by
    `ids_value`: an array on PostgreSQL, a JSON list on SQLite, one parameter either way."""
    clause: ColumnElement[bool]
    if dialect == "postgresql":
        # A set to join with, not `= ANY(array)`: the planner then hashes it, where a filter
        # would compare each row with every id.
        ids = cast(bindparam(name, type_=String), ARRAY(BigInteger))
        clause = column.in_(select(func.unnest(ids)).scalar_subquery())
    else:
        listed = select(text("value")).select_from(func.json_each(bindparam(name)))
        clause = column.in_(listed.scalar_subquery())
    return clause


def ids_value(dialect: str, ids: Sequence[int]) -> str:
    """The value of the parameter `among` binds: one text either way, which the database
    parses (a list of ten thousand numbers bound as an array costs more to send)."""
    listed = ",".join(str(int(i)) for i in ids)
    return "{" + listed + "}" if dialect == "postgresql" else "[" + listed + "]"
