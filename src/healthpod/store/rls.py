"""Row-level security on PostgreSQL: the second lock behind the one door.

Every table that holds a person's rows (`PERSON_TABLES`) has `FORCE ROW LEVEL SECURITY` and a
policy that shows and accepts only the rows of the person named by the transaction-local setting
`healthpod.person_id`. A transaction that touches a person's data names them first:

    with engine.begin() as conn:
        rls.act_for(conn, person_id)      # SELECT set_config('healthpod.person_id', '7', true)
        ...                               # a query that forgets `person_id = 7` still sees only 7

The setting ends with the transaction, so it works through a pooler in transaction mode. No
setting, or an empty one, shows no row and accepts no insert.

A few things must find a row before the person is known, or span persons. Each has a named,
narrow path: a second setting, `healthpod.scope`, that lets SELECT (never a write) see the rows
of the tables listed for it in `SCOPES`, nothing else:

- `sign-in`: `accounts`, to find an account by its username at login, and `identities`, to
  find a person by the keyed hash of their e-ID's number (or a delivered patient's identifier);
- `token`: `oauth_codes`, `oauth_tokens`, to find a code or token by its hash;
- `link`: `share_links`, `share_link_files`, to find a link or file by its token's hash;
- `delegation`: `persons`, `accounts`, to name the other party of a delegation (a delegate's
  or a guardian's name and username, a child's birth date);
- `guardians`: `delegations`, `persons`, for the sweep that tells guardians and children
  when a guardianship ends by age;
- `operator`: `persons`, `accounts`, for the operator's listings (`healthpod accounts list`,
  `--person NAME`, `log verify --all`).
- `digests`: `notification_prefs`, to find who gave an email address for digests (the
  sending job then names each person in turn to read their notifications);
- `research`: who joined a study, who opted out of secondary use and the privacy ledger, to
  form a study's cohort and check its budgets (`healthpod.research`); it may also add a
  release's charges to the ledger (`SCOPE_APPENDS`), never change them.
- `cohort`: the door's set-based read of a study's cohort (`consent.access.open_for_cohort`):
  the participants' consents, what they marked "only me" or wrong, their daily summaries, the
  birth date and sex an answer may be grouped by (`persons`) and the heads of their access
  logs. It also writes, only to the log (`SCOPE_APPENDS`): one entry per person appended in a
  batch, each chain kept by its head.

The application's database role owns no table (`role_sql`): it cannot drop a policy, disable
row-level security or alter a table. The owner role runs the migrations. SQLite has neither
roles nor policies: there each function here does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import psycopg
from psycopg import pq
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from healthpod.store import schema

PERSON_SETTING = "healthpod.person_id"
SCOPE_SETTING = "healthpod.scope"
# Each in a scalar subquery: PostgreSQL then reads the setting once per statement (an InitPlan)
# instead of once per row, which a policy over a cohort's 300,000 rows felt (a scan took
# about 1.6 times as long).
_PERSON = f"(SELECT NULLIF(current_setting('{PERSON_SETTING}', true), '')::bigint)"
_SCOPE = f"(SELECT current_setting('{SCOPE_SETTING}', true))"

Scope = Literal[
    "sign-in",
    "token",
    "link",
    "operator",
    "research",
    "delegation",
    "guardians",
    "digests",
    "cohort",
]

# Every table with a `person_id` column: its rows are one person's.
PERSON_TABLES: tuple[str, ...] = tuple(
    sorted(t.name for t in schema.metadata.sorted_tables if "person_id" in t.c)
)
# Tables shared by every person (no policy): what a type code means, the actors (apps, coaches,
# clinics) consents name, the OAuth signing keys, the login throttle (keyed by name or address).
SHARED_TABLES: tuple[str, ...] = tuple(
    sorted(
        t.name
        for t in schema.metadata.sorted_tables
        if "person_id" not in t.c and t.name != "persons"
    )
)
SCOPES: dict[str, tuple[str, ...]] = {
    "sign-in": ("accounts", "identities"),
    "token": ("oauth_codes", "oauth_tokens"),
    "link": ("share_link_files", "share_links"),
    "operator": ("accounts", "persons"),
    "research": ("privacy_ledger", "research_opt_outs", "study_participants"),
    "delegation": ("accounts", "persons"),
    "guardians": ("delegations", "persons"),
    "digests": ("notification_prefs",),
    "cohort": (
        "access_log_heads",
        "consents",
        "daily_summaries",
        "marked_wrong",
        "persons",
        "restrictions",
    ),
}
# What a scope may write besides reading (its tables and statements): the cohort's access-log
# entries, one per person in one statement, and the heads that keep each person's chain.
# And a release's charges to every contributor's privacy budget.
SCOPE_APPENDS: dict[str, dict[str, tuple[str, ...]]] = {
    "cohort": {"access_log": ("INSERT",), "access_log_heads": ("INSERT", "UPDATE")},
    "research": {"privacy_ledger": ("INSERT",)},
}

_INFO_KEY = "healthpod.rls"


def policy_sql() -> list[str]:
    """The statements that turn row-level security on, for the owner role's migration."""
    statements: list[str] = []
    keyed = dict.fromkeys(PERSON_TABLES, "person_id") | {"persons": "id"}
    for table, column in sorted(keyed.items()):
        statements += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY person_rows ON {table} "
            f"USING ({column} = {_PERSON}) WITH CHECK ({column} = {_PERSON})",
        ]
    # A delegation is one person's grant, and the delegate's to read too (`held_by`).
    statements.append(
        f"CREATE POLICY delegate_rows ON delegations FOR SELECT USING (delegate_id = {_PERSON})"
    )
    # ... and the delegate's to give up: erasing a person takes what they may do for others.
    statements.append(
        f"CREATE POLICY delegate_leaves ON delegations FOR DELETE USING (delegate_id = {_PERSON})"
    )
    for scope, tables in sorted(SCOPES.items()):
        for table in tables:
            name = "scope_" + scope.replace("-", "_")
            statements.append(
                f"CREATE POLICY {name} ON {table} FOR SELECT USING ({_SCOPE} = '{scope}')"
            )
    for scope, writes in sorted(SCOPE_APPENDS.items()):
        for table, commands in sorted(writes.items()):
            for command in commands:
                name = f"scope_{scope}_{command.lower()}"
                check = f"WITH CHECK ({_SCOPE} = '{scope}')"
                using = f"USING ({_SCOPE} = '{scope}') " if command == "UPDATE" else ""
                statements.append(f"CREATE POLICY {name} ON {table} FOR {command} {using}{check}")
    return statements


def enable(conn: Connection) -> None:
    """Turn row-level security on (PostgreSQL; SQLite has none)."""
    if conn.dialect.name != "postgresql":
        return
    for statement in policy_sql():
        conn.exec_driver_sql(statement)


def act_for(conn: Connection, person_id: int) -> None:
    """Name the person this transaction works for (once per transaction; PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    _set(conn, PERSON_SETTING, str(int(person_id)))


@contextmanager
def scoped(conn: Connection, scope: Scope) -> Iterator[None]:
    """Open one of the named narrow paths in `SCOPES` for the block, and close it after
    (PostgreSQL only): `with rls.scoped(conn, "sign-in"): ...`."""
    if scope not in SCOPES:
        raise ValueError(f"no such scope: {scope}")
    if conn.dialect.name != "postgresql":
        yield
        return
    _set(conn, SCOPE_SETTING, scope)
    try:
        yield
    except DBAPIError:
        raise  # the transaction is failed: it ends, and the setting with it
    except BaseException:
        _set(conn, SCOPE_SETTING, "")
        raise
    _set(conn, SCOPE_SETTING, "")


def leave_scope_for(conn: Connection, person_id: int) -> None:
    """Inside a `scoped` block, once its row is found: close the scope and name the row's
    person in one round trip (the block's end then sends nothing). PostgreSQL only."""
    if conn.dialect.name != "postgresql":
        return
    _set(conn, SCOPE_SETTING, "", also={PERSON_SETTING: str(int(person_id))})


def _set(conn: Connection, name: str, value: str, *, also: dict[str, str] | None = None) -> None:
    # Skip the round trip when this very transaction already holds the value. A savepoint
    # may roll the setting back with it, so inside one the setting is always sent.
    wanted = {name: value, **(also or {})}
    transaction = conn.get_transaction()
    known: dict[str, tuple[object, str]] = conn.info.setdefault(_INFO_KEY, {})
    if transaction is not None and not conn.in_nested_transaction():
        wanted = {
            n: v
            for n, v in wanted.items()
            if (held := known.get(n)) is None or held[0] is not transaction or held[1] != v
        }
        if not wanted:
            return
    if transaction is None:  # begin as the next statement would, so the values stay known
        transaction = conn.begin()
    if not _begin_with(conn, wanted):
        calls = ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(wanted)))
        params = {}
        for i, (n, v) in enumerate(wanted.items()):
            params[f"n{i}"], params[f"v{i}"] = n, v
        conn.execute(text(f"SELECT {calls}"), params)
    transaction = conn.get_transaction()
    if not conn.in_nested_transaction():
        for n, v in wanted.items():
            known[n] = (transaction, v)


def _begin_with(conn: Connection, settings: dict[str, str]) -> bool:
    """Send BEGIN and the settings in one round trip, if the transaction has not reached the
    server yet; False (nothing sent) otherwise.

    psycopg sends BEGIN on its own before a transaction's first statement, one round trip;
    then each setting is another. Every read is a transaction that names its person first,
    so this halves what naming it costs. Through libpq's simple query protocol (the
    connection's `pgconn`), which a pooler in transaction mode passes as it is; psycopg
    sees the transaction open and sends no BEGIN of its own. The values are a person id or a
    scope's name, never text from outside, and are quoted all the same.
    """
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        return False
    pgconn = raw.pgconn
    if (
        raw.autocommit
        or raw.isolation_level is not None
        or raw.read_only is not None
        or raw.deferrable is not None
        or pgconn.transaction_status != pq.TransactionStatus.IDLE
    ):
        return False
    calls = ", ".join(f"set_config({_quote(n)}, {_quote(v)}, true)" for n, v in settings.items())
    sql = f"BEGIN; SELECT {calls}"
    result = pgconn.exec_(sql.encode())
    if result.status != pq.ExecStatus.TUPLES_OK:
        message = (result.error_message or b"").decode(errors="replace")
        raise DBAPIError(sql, None, psycopg.OperationalError(message))
    return True


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def role_sql(
    owner: str,
    app: str,
    database: str,
    *,
    schema_name: str = "public",
    replication_role: bool = True,
) -> list[str]:
    """The statements that make the owner role (owns the tables, runs migrations) and the app
    role (owns nothing; reads and writes rows through the policies), for a superuser to run
    once before `healthpod db upgrade`. Passwords are set separately (`ALTER ROLE … PASSWORD`).

    `replication_role` (PostgreSQL 15 and later): the app role may set
    `session_replication_role`, which an import sets to `replica` for its own transaction to
    skip the per-row foreign-key checks (`store.imports.transaction`). That setting turns off
    triggers and rules, not row-level security: the policies hold as before, and no trigger
    or rule of ours guards anything (docs/deploy-region.md).
    """
    o, a, d, s = (_ident(x) for x in (owner, app, database, schema_name))
    dml = "SELECT, INSERT, UPDATE, DELETE"
    defaults = f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT"
    statements = [
        f"CREATE ROLE {o} LOGIN",
        f"CREATE ROLE {a} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {o}, {a}",
        f"GRANT USAGE, CREATE ON SCHEMA {s} TO {o}",
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {s} TO {a}",
        f"{defaults} {dml} ON TABLES TO {a}",
        f"{defaults} USAGE, SELECT ON SEQUENCES TO {a}",
        # Tables made before these defaults (a database migrated as another role): ours too.
        f"GRANT {dml} ON ALL TABLES IN SCHEMA {s} TO {a}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {a}",
    ]
    if replication_role:
        statements.append(f"GRANT SET ON PARAMETER session_replication_role TO {a}")
    return statements


def _ident(name: str) -> str:
    """A quoted SQL identifier; refuses names that are not plain words."""
    if not name or not all(c.isalnum() or c == "_" for c in name) or len(name) > 63:
        raise ValueError(f"{name!r} is not a role, database or schema name (letters, digits, _)")
    return '"' + name + '"'
