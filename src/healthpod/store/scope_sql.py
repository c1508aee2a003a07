"""The one place a `Scope` becomes SQL: which sample types, which data window, which records.

Every read of a person's data applies these, so what a consent (and the caller's token) does
not cover is never fetched, counted or rendered. One reading of a data window everywhere: a
datum is inside when the instant it starts at is inside `[data_from_ms, data_to_ms)`; a daily
summary when every sample it sums is (its first and last sample's start); a record from
healthcare when its clinical date starts inside, and a record without a clinical date is
outside any bounded window (deny by default).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, false, or_, select

from healthpod.consent.model import Scope
from healthpod.store import schema
from healthpod.vocabulary import IDENTITY_RESOURCES, Category, sample_type

_SAMPLE_TYPES_SQL = f"SELECT code, id FROM {schema.sample_types.name}"  # noqa: S608 - ours
_r = schema.resources
_t = schema.resource_tokens


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
    if not scope.covers_category(type_category(code)):
        return False
    limit = scope.observation_categories
    return limit is None or _fhir_category(code) in limit


def visible_types(conn: Connection, scope: Scope, wanted: frozenset[str] | None) -> dict[str, int]:
    """code → id of the stored sample types the scope (and the query's `wanted`) may see."""
    # Read on every search (a type can arrive with any import); a constant statement.
    rows = conn.exec_driver_sql(_SAMPLE_TYPES_SQL)
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
