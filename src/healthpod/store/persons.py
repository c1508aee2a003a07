"""Who the pod holds data for: a person's id by name, made on first use.

These find a person; they read none of their data (that goes through `person_data`).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, exists, func, insert, inspect, select

from healthpod.store import queue_schema, rls, schema

_p = schema.persons
_SEQUENCE = "persons_id_seq"


def find(conn: Connection, name: str) -> int | None:
    """The id of the person called `name`, or None (the operator's path: `rls` "operator")."""
    with rls.scoped(conn, "operator"):
        found = conn.scalar(select(_p.c.id).where(_p.c.name == name))
    return None if found is None else int(found)


def find_or_add(conn: Connection, name: str, *, now_ms: int) -> int:
    """The id of the person called `name`, added if there is none."""
    found = find(conn, name)
    if found is None:
        found = add(conn, name, now_ms=now_ms)
    return found


def is_present(engine: Engine, person_id: int) -> bool:
    """Whether the person with this id is (still) in the pod (read as that person, so it
    holds under row-level security)."""
    with engine.begin() as conn:
        rls.act_for(conn, person_id)
        return conn.scalar(select(_p.c.id).where(_p.c.id == person_id)) is not None


def add(conn: Connection, name: str, *, now_ms: int) -> int:
    """Add a person; the transaction then works for them (`rls`).

    On PostgreSQL the id is drawn first, so the row is written as that person's, under the
    row-level security policy like any other.
    """
    if conn.dialect.name == "postgresql":
        new_id = int(conn.execute(select(func.nextval(_SEQUENCE))).scalar_one())
        rls.act_for(conn, new_id)
        conn.execute(insert(_p).values(id=new_id, name=name, created_ms=now_ms))
        return new_id
    return int(conn.scalar(insert(_p).values(name=name, created_ms=now_ms).returning(_p.c.id)))


def everyone(conn: Connection) -> list[tuple[int, str]]:
    """(id, name) of every person in the pod, for operators (`healthpod log verify --all`)."""
    with rls.scoped(conn, "operator"):
        rows = conn.execute(select(_p.c.id, _p.c.name).order_by(_p.c.id)).all()
    return [(int(i), str(n)) for i, n in rows]


def holds_data(engine: Engine) -> bool:
    """Whether the database holds anything: a person, an import, a login or an actor, or tables
    that are not healthpod's."""
    tables = {t for t in inspect(engine).get_table_names() if not queue_schema.is_queue_table(t)}
    if tables - set(schema.metadata.tables) - {"alembic_version"}:
        return True  # another program's database
    kept = [schema.persons, schema.imports, schema.accounts, schema.actors]
    with engine.connect() as conn, rls.scoped(conn, "operator"):
        return any(
            conn.scalar(select(exists().select_from(table)))
            for table in kept
            if table.name in tables
        )


def add_new(conn: Connection, name: str, *, now_ms: int) -> int:
    """Add a person under `name`, or `name (2)`, `name (3)` … when the name is taken."""
    candidate, n = name, 1
    while find(conn, candidate) is not None:
        n += 1
        candidate = f"{name} ({n})"
    return add(conn, candidate, now_ms=now_ms)
