"""`healthpod init` and `healthpod db upgrade|status|roles|citus`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from healthpod.cli import CliState, echo_json, json_option
from healthpod.errors import ConfigError
from healthpod.keys import secret_key
from healthpod.store import migrate

if TYPE_CHECKING:
    from sqlalchemy import Engine


def _migration_engine(state: CliState) -> Engine:
    """The engine migrations run on: the owner role's URL (`migration_database_url`), or the
    pod's own where none is set."""
    from healthpod.store.engine import make_engine

    settings = state.settings
    if settings.migration_database_url is None:
        return state.pod(check=False).engine
    state.pod(check=False)  # the home and the access log's key, as for any command
    return make_engine(settings.effective_migration_url, pooler=settings.database_pooler)


@click.command()
@click.pass_obj
def init(state: CliState) -> None:
    """Create the pod (data directory and database) or bring its schema up to date.

    \b
        healthpod init
        healthpod --home ./mypod init
    """
    engine = _migration_engine(state)
    migrate.upgrade(engine)
    secret_key(state.settings.home)  # signs session cookies; kept if it exists
    url = state.pod(check=False).engine.url.render_as_string()
    click.echo(f"Pod ready in {state.settings.home} ({url}).")


@click.group()
def db() -> None:
    """Database schema: status and upgrade."""


@db.command()
@click.pass_obj
def upgrade(state: CliState) -> None:
    """Apply pending schema migrations."""
    engine = _migration_engine(state)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    click.echo(f"Schema upgraded from {before or 'nothing'} to {migrate.head_revision()}.")


@db.command()
@json_option
@click.pass_obj
def status(state: CliState, as_json: bool) -> None:
    """Show the schema revision of the database and of this code."""
    pod = state.pod(check=False)
    current, head = migrate.current_revision(pod.engine), migrate.head_revision()
    if as_json:
        echo_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        click.echo(f"database: {current or 'none'}  code: {head}")


@db.command()
@click.option("--owner", default="healthpod_owner", show_default=True, help="The owner role.")
@click.option("--app", default="healthpod_app", show_default=True, help="The app's role.")
@click.option("--database", help="The database (default: the one in the database URL).")
@click.option("--run", is_flag=True, help="Run the SQL on the migration URL (a superuser's).")
@click.pass_obj
def roles(state: CliState, owner: str, app: str, database: str | None, run: bool) -> None:
    """Print (or run) the SQL that makes PostgreSQL's two roles.

    The owner role owns the tables and runs `healthpod db upgrade`; the app role owns nothing,
    reads and writes rows only through the row-level security policies, and is the one in
    `HEALTHPOD_DATABASE_URL`. The app role may set session_replication_role (PostgreSQL 15
    and later), so an import skips per-row reference checks in its own transaction; row-level
    security still holds. Run once, as a superuser, before the first upgrade.

    \b
        healthpod db roles > roles.sql
        healthpod --database-url postgresql://postgres@db/healthpod db roles --run
    """
    from sqlalchemy.engine import make_url

    from healthpod.store import rls

    url = make_url(state.settings.effective_migration_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "Roles are for PostgreSQL; this pod's database is SQLite.",
            hint="Set HEALTHPOD_DATABASE_URL (or --database-url) to a postgresql:// URL.",
        )
    try:
        statements = rls.role_sql(owner, app, database or url.database or "postgres")
    except ValueError as error:
        raise ConfigError(str(error), hint="Use letters, digits and _ only.") from None
    if not run:
        for statement in statements:
            click.echo(statement + ";")
        return
    from healthpod.store.engine import make_engine

    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            if (conn.dialect.server_version_info or (0,)) < (15,):
                statements = [s for s in statements if "ON PARAMETER" not in s]
                click.echo(
                    "PostgreSQL before 15 cannot grant session_replication_role: imports "
                    "keep their per-row reference checks and are about twice as slow."
                )
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    click.echo(f"Made the roles {owner} (owns the tables) and {app} (the app's).")


@db.command()
@click.pass_obj
def citus(state: CliState) -> None:
    """Print the SQL that spreads persons over Citus nodes, for this database.

    First the key changes Citus needs (each person table's keys take person_id in; run them
    as the owner role, in one transaction), then the calls that make the shared tables
    reference tables and distribute every person table by person_id (run them on the Citus
    coordinator). See docs/deploy-region.md.

    \b
        healthpod db citus > citus.sql
    """
    from sqlalchemy.engine import make_url

    from healthpod.store import citus as citus_sql
    from healthpod.store.engine import make_engine

    url = make_url(state.settings.effective_migration_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "Citus is for PostgreSQL; this pod's database is SQLite.",
            hint="Set HEALTHPOD_DATABASE_URL (or --database-url) to a postgresql:// URL.",
        )
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            keys = citus_sql.constraints(conn)
    finally:
        engine.dispose()
    click.echo("-- 1. Keys that include the person (as the owner role, one transaction)")
    click.echo("BEGIN;")
    for statement in citus_sql.prepare_sql(keys):
        click.echo(statement + ";")
    click.echo("COMMIT;")
    click.echo("-- 2. Reference and distributed tables (on the Citus coordinator)")
    for statement in citus_sql.distribute_sql():
        click.echo(statement + ";")


COMMANDS = [init, db]
