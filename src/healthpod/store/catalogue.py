"""What a person has: per sample type, how many, over which period, the latest value, from where.

`type_summaries(read)` backs the web's "All my data" page. It reads through a `Reader`, so the
reader's scope (categories, data window) applies: a type outside the scope is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader
from healthpod.store.scope_sql import start_clauses


@dataclass(frozen=True, slots=True)
class TypeSummary:
    """One stored type as the person sees it in the list of all their data."""

    code: str
    kind: str  # quantity|category
    count: int
    first_ms: int
    last_ms: int
    latest_value: float | None  # the newest sample's value (quantity types)
    latest_code: str | None  # the newest sample's coded value (category types)
    latest_offset_min: int
    unit: str
    sources: tuple[str, ...]  # names, most samples first


def type_summaries(read: Reader) -> list[TypeSummary]:
    """Every sample type the reader may see that has at least one sample, by code."""
    visible = read.visible_types()
    by_id = {type_id: code for code, type_id in visible.items()}
    if not by_id:
        return []
    names = dict(
        read.conn.execute(
            select(schema.sources.c.id, schema.sources.c.name).where(
                schema.sources.c.person_id == read.person_id
            )
        ).all()
    )
    found: list[TypeSummary] = []
    for table, kind in (
        (schema.quantity_samples, "quantity"),
        (schema.category_samples, "category"),
    ):
        where = [
            table.c.person_id == read.person_id,
            table.c.type_id.in_(sorted(by_id)),
            *start_clauses(table.c.start_ms, read.scope),
        ]
        rows = read.conn.execute(
            select(
                table.c.type_id,
                table.c.source_id,
                func.count(),
                func.min(table.c.start_ms),
                func.max(table.c.start_ms),
            )
            .where(*where)
            .group_by(table.c.type_id, table.c.source_id)
        ).all()
        per_type: dict[int, list[tuple[int, int, int, int]]] = {}
        for type_id, source_id, n, first, last in rows:
            per_type.setdefault(int(type_id), []).append(
                (int(source_id), int(n), int(first), int(last))
            )
        for type_id, parts in per_type.items():
            parts.sort(key=lambda p: -p[1])
            found.append(_summary(read, table, kind, by_id[type_id], type_id, parts, names, where))
    return sorted(found, key=lambda s: s.code)


def _summary(
    read: Reader,
    table: Table,
    kind: str,
    code: str,
    type_id: int,
    parts: list[tuple[int, int, int, int]],
    names: dict[int, str],
    where: list[ColumnElement[bool]],
) -> TypeSummary:
    value = table.c.value if kind == "quantity" else table.c.value_code
    unit = table.c.unit if kind == "quantity" else table.c.value_code
    latest = read.conn.execute(
        select(value, unit, table.c.start_offset_min)
        .where(*where, table.c.type_id == type_id)
        .order_by(table.c.start_ms.desc(), table.c.id.desc())
        .limit(1)
    ).first()
    number = float(latest[0]) if latest is not None and kind == "quantity" else None
    coded = str(latest[0]) if latest is not None and kind == "category" else None
    return TypeSummary(
        code=code,
        kind=kind,
        count=sum(p[1] for p in parts),
        first_ms=min(p[2] for p in parts),
        last_ms=max(p[3] for p in parts),
        latest_value=number,
        latest_code=coded,
        latest_offset_min=int(latest[2]) if latest is not None else 0,
        unit=str(latest[1]) if latest is not None and kind == "quantity" else "",
        sources=tuple(names.get(p[0], "?") for p in parts),
    )
