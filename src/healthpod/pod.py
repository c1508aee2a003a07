"""The pod: one person's (or a region's) store, opened with its settings."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from healthpod.config import Settings

DEFAULT_PERSON = "me"
# Written by `healthpod demo` into the home of the pod it fills, naming that pod's database:
# such a pod shows a "demo data" banner, and the demo refuses any pod without it that holds data.
DEMO_MARKER = "DEMO-POD"


def make_home(home: Path) -> None:
    """Create the pod's home directory, readable by its owner only (0700), if it is missing.

    An existing directory keeps its mode: the operator may have chosen it (group access for a
    backup user, say). The database files in it are made 0600 by `store.engine.make_engine`.
    """
    if not home.is_dir():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)  # mkdir's mode is masked by the umask; 0700 is what we mean


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Pod:
    """Settings plus an engine. Commands and the web app get one; nothing opens its own."""

    settings: Settings
    engine: Engine
    _person_ids: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, check: bool = True) -> Pod:
        """Open the store with the access log's key; with `check`, refuse an outdated schema.

        Raises:
            StorageError: the schema needs `healthpod init` or `healthpod db upgrade`.
            ConfigError: the access log's key cannot be read or made.
        """
        from healthpod.consent import audit
        from healthpod.keys import access_log_key
        from healthpod.store import migrate
        from healthpod.store.engine import make_engine

        make_home(settings.home)
        engine = make_engine(settings.effective_database_url, pooler=settings.database_pooler)
        audit.use_key(engine, access_log_key(settings))
        if check:
            migrate.check_schema(engine)
        return cls(settings=settings, engine=engine)

    def close(self) -> None:
        self.engine.dispose()

    @functools.cached_property
    def reads(self) -> Engine:
        """The engine for reads outside a transaction (see `store.engine.for_reads`)."""
        from healthpod.store.engine import for_reads

        return for_reads(self.engine)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def person_id(self, name: str = DEFAULT_PERSON, *, connection: Connection | None = None) -> int:
        """The id of the person called `name`, created on first use; `connection`'s
        transaction then works for them (`store.rls`)."""
        from healthpod.store import persons, rls

        if name in self._person_ids:
            if connection is not None:
                rls.act_for(connection, self._person_ids[name])
            return self._person_ids[name]

        if connection is None:
            with self.engine.begin() as conn:
                return self.person_id(name, connection=conn)
        found = persons.find_or_add(connection, name, now_ms=now_ms())
        self._person_ids[name] = found
        return found

    @functools.cached_property
    def is_demo(self) -> bool:
        """Whether `healthpod demo` made this pod (its marker names this very database)."""
        try:
            marked = (self.settings.home / DEMO_MARKER).read_text().strip()
        except OSError:
            return False
        return marked == self.database_name

    @property
    def database_name(self) -> str:
        """The database's URL without its password, as the demo marker records it."""
        return self.engine.url.render_as_string(hide_password=True)
