"""The history of imports, newest first: what `healthpod imports` lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from healthpod.store import persons, rls, schema


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One row of `imports` with the name of the person it was for."""

    import_id: int
    person: str
    filename: str
    format: str
    status: str  # running|completed|failed
    added: dict[str, int]
    already_present: int
    unknown_types: list[str]
    started_ms: int | None
    finished_ms: int | None
    sha256: str
    error: str | None


def history(engine: Engine, *, person: str | None = None) -> list[ImportRecord]:
    """Every import (or only `person`'s), newest first."""
    i, p = schema.imports, schema.persons
    query = (
        select(i, p.c.name.label("person"))
        .join(p, p.c.id == i.c.person_id)
        .order_by(i.c.started_ms.desc(), i.c.id.desc())
    )
    if person is not None:
        query = query.where(p.c.name == person)
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            rows = conn.execute(query).mappings().all()
            return [_record(row) for row in rows]
        # Row-level security: each person's imports in a transaction that works for them.
        found: list[Any] = []
        for person_id, name in persons.everyone(conn):
            if person is not None and name != person:
                continue
            rls.act_for(conn, person_id)
            found += conn.execute(query).mappings().all()
        found.sort(key=lambda row: (row["started_ms"], row["id"]), reverse=True)
    return [_record(row) for row in found]


def _record(row: Any) -> ImportRecord:
    return ImportRecord(
        import_id=int(row["id"]),
        person=str(row["person"]),
        filename=str(row["filename"]),
        format=str(row["format"]),
        status=str(row["status"]),
        added=dict(row["added"] or {}),
        already_present=int(row["already_present"] or 0),
        unknown_types=list(row["unknown_types"] or []),
        started_ms=row["started_ms"],
        finished_ms=row["finished_ms"],
        sha256=str(row["sha256"] or ""),
        error=row["error"],
    )
