"""The sample types the store knows (shared by every person, read as part of their data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from healthpod.store import schema
from healthpod.store.person_data import Reader

TypeRow = tuple[int, str, str, Any]  # (id, code, kind, unit)


def stored(read: Reader) -> list[TypeRow]:
    """(id, code, kind, unit) of every type the store knows."""
    return read.remembered("stored types", lambda: _stored(read))


def _stored(read: Reader) -> list[TypeRow]:
    st = schema.sample_types
    rows = read.conn.execute(select(st.c.id, st.c.code, st.c.kind, st.c.unit))
    return [(int(i), str(c), str(k), u) for i, c, k, u in rows]


def find(read: Reader, code: str) -> TypeRow | None:
    """(id, code, kind, unit) of the type `code`, or None."""
    return read.remembered(("stored type", code), lambda: _find(read, code))


def _find(read: Reader, code: str) -> TypeRow | None:
    st = schema.sample_types
    row = read.conn.execute(
        select(st.c.id, st.c.code, st.c.kind, st.c.unit).where(st.c.code == code)
    ).first()
    return None if row is None else (int(row.id), str(row.code), str(row.kind), row.unit)
