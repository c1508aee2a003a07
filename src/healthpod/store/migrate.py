"""Apply and check Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from healthpod.errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creating it in an empty database)."""
    config = _config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or older than this code.

    Raises:
        StorageError: the schema is missing, old, or newer than this version of healthpod.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise StorageError(
            "This pod has no database yet.", hint="Run `healthpod init` to create it."
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise StorageError(
            f"The database schema ({current}) is newer than this version of healthpod knows.",
            hint="Upgrade healthpod.",
        )
    raise StorageError(
        f"The database schema is older ({current}) than this version of healthpod ({head}).",
        hint="Run `healthpod db upgrade`.",
    )
