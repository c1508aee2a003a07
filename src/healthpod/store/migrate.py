"""Apply and check Alembic migrations.

Alembic itself is imported only to migrate or to explain a mismatch: every command checks
the schema at start, and importing Alembic costs about half a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from healthpod.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in MIGRATIONS (a test keeps the two equal).
HEAD_REVISION = "0001"


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None where there is no schema yet."""
    with engine.connect() as connection:
        try:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # no such table: an empty database
            return None
    return None if found is None else str(found)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (creating it in an empty database)."""
    from alembic import command

    config = _config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    from healthpod.store import queue_schema

    queue_schema.ensure(engine)


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database whose schema is missing or older than this code.

    Raises:
        StorageError: the schema is missing, old, or newer than this version of healthpod.
    """
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory

    head = head_revision()
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
