"""How much of the person the pod holds, table by table (the "your data" page)."""

from __future__ import annotations

from sqlalchemy import Table, func, select

from healthpod.store import schema
from healthpod.store.person_data import Reader, unscoped

COUNTED: tuple[Table, ...] = (
    schema.quantity_samples,
    schema.category_samples,
    schema.workouts,
    schema.resources,
    schema.imports,
    schema.consents,
    schema.access_log,
)


def row_counts(read: Reader) -> dict[str, int]:
    """table name → how many rows of the person it holds, for each of `COUNTED`."""
    conn = unscoped(read)
    return {
        table.name: int(
            conn.scalar(
                select(func.count()).select_from(table).where(table.c.person_id == read.person_id)
            )
            or 0
        )
        for table in COUNTED
    }
