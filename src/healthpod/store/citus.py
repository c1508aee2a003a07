"""Spreading persons over several PostgreSQL servers with Citus: which table goes where, and the
statements that make a migrated database ready for it.

Citus distributes a table by one column, here the person: every row of a person lives on
one node, so everything a request does for one person runs on that node. Its rules: every
primary key and unique constraint of a distributed table includes the distribution column,
and a foreign key between two distributed tables includes it on both sides; a foreign key
from a distributed table may point to a reference table (copied whole to every node), never
the other way round.

`REFERENCE_TABLES` are copied to every node: the shared ones (what a type code means, the
actors and their backend tokens, the research studies and their released answers, the
signing keys, the login throttle, sign-ins under way) and the few person tables that are
looked up by something other than the person before the person is known (an account by its
username, an e-ID by its keyed hash, a session, an OAuth code or token, a share link by its
token's hash; the consents those tokens stand for; and `persons` itself, whose names are
unique across the region). They are small and seldom written. Every other table holds one
person's rows (`distributed_tables()`) and goes by `person_id`.

SQLite (the laptop mode) keeps `id` as each table's own key: only an INTEGER PRIMARY KEY
gets SQLite's automatic ids. So the person-inclusive keys are made here, on PostgreSQL,
when a region moves to Citus (`prepare_sql`, docs/deploy-region.md): each person table's
primary key becomes (person_id, id), its unique constraints and its foreign keys to other
person tables take person_id in, and a foreign key from a reference table to a person table
is dropped. Ids stay unique (one sequence per table), so the application's queries are
unchanged. `tests/store/test_citus_ready.py` runs these statements on a migrated database
and checks Citus's rules on what PostgreSQL then holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from healthpod.store import schema

DISTRIBUTION_COLUMN = "person_id"

REFERENCE_TABLES: tuple[str, ...] = (
    # shared by everyone
    "actors",
    "backend_assertions",
    "backend_tokens",
    "login_throttle",
    "oauth_keys",
    "oidc_logins",
    "sample_types",
    "studies",  # a study and its released answers belong to the region, not to one person
    "study_releases",
    # looked up before the person is known, or unique across the region
    "accounts",
    "consents",
    "identities",
    "oauth_codes",
    "oauth_tokens",
    "persons",
    "share_link_files",
    "share_links",
    "web_sessions",
)


def distributed_tables() -> tuple[str, ...]:
    """Every table of the schema that is not a reference table (all hold `person_id`), a
    table after those its foreign keys point to."""
    return tuple(t.name for t in schema.metadata.sorted_tables if t.name not in REFERENCE_TABLES)


def _reference_tables() -> tuple[str, ...]:
    """`REFERENCE_TABLES`, a table after those its foreign keys point to."""
    return tuple(t.name for t in schema.metadata.sorted_tables if t.name in REFERENCE_TABLES)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A primary key, unique constraint or foreign key as PostgreSQL's catalog holds it."""

    table: str
    name: str
    kind: str  # p (primary key), u (unique), i (unique index, no constraint), f (foreign key)
    columns: tuple[str, ...]
    referred_table: str | None = None
    referred_columns: tuple[str, ...] = ()
    on_delete: str = "a"  # pg_constraint.confdeltype: a (no action), c (cascade), n (set null) …


_CONSTRAINTS_SQL = """
SELECT c.conrelid::regclass::text, c.conname, c.contype,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       c.confrelid::regclass::text,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       c.confdeltype
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
WHERE c.contype IN ('p', 'u', 'f') AND r.relnamespace = 'public'::regnamespace
UNION ALL
SELECT i.indrelid::regclass::text, x.relname::text, 'i',
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
       NULL, NULL, 'a'
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
WHERE i.indisunique AND x.relnamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 2
"""


def constraints(conn: Connection) -> list[Constraint]:
    """The keys of the database's tables (PostgreSQL)."""
    found = []
    for table, name, kind, columns, referred, referred_columns, on_delete in conn.exec_driver_sql(
        _CONSTRAINTS_SQL
    ):
        if table == "alembic_version":
            continue
        found.append(
            Constraint(
                table=table,
                name=name,
                kind=kind,
                columns=tuple(columns),
                referred_table=None if kind != "f" else referred,
                referred_columns=tuple(referred_columns or ()),
                on_delete=on_delete,
            )
        )
    return found


def violations(keys: list[Constraint]) -> list[str]:
    """What breaks Citus's rules, one sentence each (none: ready)."""
    distributed = set(distributed_tables())
    found = []
    for key in keys:
        where = f"{key.table}.{key.name} ({', '.join(key.columns)})"
        if (
            key.kind in "pui"
            and key.table in distributed
            and DISTRIBUTION_COLUMN not in key.columns
        ):
            found.append(f"{where}: a key of a person table without {DISTRIBUTION_COLUMN}")
        if key.kind != "f":
            continue
        target = key.referred_table
        if key.table in distributed and target in distributed:
            pairs = list(zip(key.columns, key.referred_columns, strict=True))
            if (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) not in pairs:
                found.append(f"{where} -> {target}: between person tables without the person")
        if key.table not in distributed and target in distributed:
            found.append(f"{where} -> {target}: from a reference table to a person table")
    return found


_ON_DELETE = {"c": " ON DELETE CASCADE", "n": " ON DELETE SET NULL", "r": " ON DELETE RESTRICT"}


def prepare_sql(keys: list[Constraint]) -> list[str]:
    """The statements that make the database's keys follow Citus's rules (run by the owner
    role in one transaction, before `distribute_sql`)."""
    distributed = set(distributed_tables())
    p = DISTRIBUTION_COLUMN
    drop: list[str] = []
    add: list[str] = []
    readd: list[str] = []
    for key in keys:
        if key.kind != "f":
            continue
        if key.table not in distributed and key.referred_table in distributed:
            drop.append(f'ALTER TABLE "{key.table}" DROP CONSTRAINT "{key.name}"')
        elif key.table in distributed and key.referred_table in distributed:
            if (p, p) in zip(key.columns, key.referred_columns, strict=True):
                continue
            drop.append(f'ALTER TABLE "{key.table}" DROP CONSTRAINT "{key.name}"')
            columns = ", ".join((p, *key.columns))
            referred = ", ".join((p, *key.referred_columns))
            on_delete = _ON_DELETE.get(key.on_delete, "")
            readd.append(
                f'ALTER TABLE "{key.table}" ADD CONSTRAINT "{key.name}" FOREIGN KEY ({columns})'
                f' REFERENCES "{key.referred_table}" ({referred}){on_delete}'
            )
    for key in keys:
        if key.kind not in "pui" or key.table not in distributed or p in key.columns:
            continue
        columns = ", ".join((p, *key.columns))
        if key.kind == "i":
            drop.append(f'DROP INDEX "{key.name}"')
            add.append(f'CREATE UNIQUE INDEX "{key.name}" ON "{key.table}" ({columns})')
            continue
        kind = "PRIMARY KEY" if key.kind == "p" else "UNIQUE"
        drop.append(f'ALTER TABLE "{key.table}" DROP CONSTRAINT "{key.name}"')
        add.append(f'ALTER TABLE "{key.table}" ADD CONSTRAINT "{key.name}" {kind} ({columns})')
    return drop + add + readd


def distribute_sql() -> list[str]:
    """Citus's own calls, after `prepare_sql`: reference tables first, then each person table
    by `person_id`, all colocated with the first (a person's rows on one node), each after
    the tables its foreign keys point to."""
    statements = [f"SELECT create_reference_table('{t}')" for t in _reference_tables()]
    first, *rest = distributed_tables()
    statements.append(f"SELECT create_distributed_table('{first}', '{DISTRIBUTION_COLUMN}')")
    statements += [
        f"SELECT create_distributed_table('{t}', '{DISTRIBUTION_COLUMN}', "
        f"colocate_with => '{first}')"
        for t in rest
    ]
    return statements
