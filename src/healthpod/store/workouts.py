"""Workouts as the person's own pages read them: a page of the list, and one workout in full.

Workouts belong to the activity category; a reader whose scope does not cover activity (or
only daily summaries) sees none. The data window applies to a workout's start. A workout the
person marked wrong is listed to the person with its reason (struck through) and to no one
else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader
from healthpod.store.scope_sql import not_marked_wrong, start_clauses

_w = schema.workouts
_q = schema.quantity_samples
_m = schema.marked_wrong


@dataclass(frozen=True, slots=True)
class WorkoutRow:
    id: int
    activity_type: str
    start_ms: int
    end_ms: int
    offset_min: int
    duration_s: float | None
    distance_km: float | None
    energy_kcal: float | None
    source: str
    wrong: str | None = None  # the reason ("" without one) when marked wrong


@dataclass(frozen=True, slots=True)
class WorkoutDetail:
    row: WorkoutRow
    heart_rate_mean: float | None
    heart_rate_max: float | None
    heart_rate_count: int
    route: list[tuple[float, float]]  # (lat, lon) in order; empty when the file had none
    route_file: str | None  # a route the export points to but did not carry


def _where(read: Reader) -> list[ColumnElement[bool]]:
    scope = read.scope
    if scope.daily_only or not scope.covers_category("activity"):
        return [false()]
    clauses = [_w.c.person_id == read.person_id, *start_clauses(_w.c.start_ms, scope)]
    if scope.hides_wrong and not read.owner:
        clauses.append(not_marked_wrong(_w, "w"))
    return clauses


def _columns() -> list[Any]:
    return [
        _w.c.id,
        _w.c.activity_type,
        _w.c.start_ms,
        _w.c.end_ms,
        _w.c.start_offset_min,
        _w.c.duration_s,
        _w.c.distance_km,
        _w.c.energy_kcal,
        schema.sources.c.name,
        func.coalesce(_m.c.reason, "").label("wrong"),
        _m.c.id.label("mark_id"),
    ]


def _joined() -> Any:
    marks = and_(_m.c.person_id == _w.c.person_id, _m.c.kind == "w", _m.c.row_id == _w.c.id)
    return _w.join(schema.sources, schema.sources.c.id == _w.c.source_id).outerjoin(_m, marks)


def _row(row: Any) -> WorkoutRow:
    return WorkoutRow(
        int(row[0]),
        str(row[1]),
        int(row[2]),
        int(row[3]),
        int(row[4]),
        row[5],
        row[6],
        row[7],
        str(row[8]),
        None if row[10] is None else str(row[9]),
    )


def count(read: Reader) -> int:
    return int(read.conn.scalar(select(func.count()).select_from(_w).where(*_where(read))) or 0)


def page(read: Reader, *, offset: int, limit: int) -> list[WorkoutRow]:
    """Workouts newest first."""
    rows = read.conn.execute(
        select(*_columns())
        .select_from(_joined())
        .where(*_where(read))
        .order_by(_w.c.start_ms.desc(), _w.c.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [_row(r) for r in rows]


def detail(read: Reader, workout_id: int) -> WorkoutDetail | None:
    """One workout with the heart rate measured during it and its route, or None."""
    found = read.conn.execute(
        select(*_columns(), _w.c.route)
        .select_from(_joined())
        .where(*_where(read), _w.c.id == workout_id)
    ).first()
    if found is None:
        return None
    row = _row(found)
    mean = high = None
    n = 0
    heart = read.visible_types(frozenset({"heart_rate"})).get("heart_rate")
    if heart is not None:
        stats = read.conn.execute(
            select(func.avg(_q.c.value), func.max(_q.c.value), func.count()).where(
                _q.c.person_id == read.person_id,
                _q.c.type_id == heart,
                _q.c.start_ms >= row.start_ms,
                _q.c.start_ms <= row.end_ms,
                *start_clauses(_q.c.start_ms, read.scope),
            )
        ).first()
        if stats is not None and stats[2]:
            mean, high, n = float(stats[0]), float(stats[1]), int(stats[2])
    route, route_file = _route(found[-1])
    return WorkoutDetail(row, mean, high, n, route, route_file)


def _route(stored: Any) -> tuple[list[tuple[float, float]], str | None]:
    if not isinstance(stored, dict):
        return [], None
    points: list[tuple[float, float]] = []
    for point in stored.get("points") or stored.get("locations") or []:
        if not isinstance(point, dict):
            continue
        lat = point.get("lat", point.get("latitude"))
        lon = point.get("lon", point.get("longitude"))
        try:
            points.append((float(lat), float(lon)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    file = stored.get("file")
    return points, str(file) if file and not points else None
