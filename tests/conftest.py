"""Shared fixtures: real SQLite files and a real PostgreSQL server (HEALTHPOD_TEST_PG_URL)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from healthpod.cli import cli
from healthpod.config import Settings
from healthpod.consent import audit
from healthpod.pod import Pod
from healthpod.store import migrate, rls
from healthpod.store.engine import make_engine

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("HEALTHPOD_TEST_PG_URL")
ENGINES = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that talk to the shared PostgreSQL server stay on one worker to keep connections few.
    for item in items:
        if "postgresql" in item.name:
            item.add_marker(pytest.mark.xdist_group("postgresql"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per session and copied per test."""
    path = tmp_path_factory.mktemp("template") / "healthpod.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


class PgTemplate:
    """A migrated PostgreSQL database that each test clones with CREATE DATABASE … TEMPLATE.

    As in a region's deployment, an owner role owns the tables and runs the migration, and the
    app role owns nothing: its rows are those the row-level security policies let it see.
    `clone()` gives a URL as the app role, `as_role()` the same database as another role.
    """

    def __init__(self, url: str) -> None:
        self.admin = make_engine(url, isolation_level="AUTOCOMMIT")
        tag = uuid.uuid4().hex[:10]
        self.name = f"hp_tpl_{tag}"
        self.owner, self.app = f"hp_own_{tag}", f"hp_app_{tag}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        in_template = make_engine(self._url(self.name), isolation_level="AUTOCOMMIT")
        with in_template.connect() as conn:
            for statement in rls.role_sql(self.owner, self.app, self.name):
                conn.exec_driver_sql(statement)
        in_template.dispose()
        engine = make_engine(self._url(self.name, user=self.owner))
        migrate.upgrade(engine)
        engine.dispose()
        self.clones: list[str] = []

    def _url(self, name: str, *, user: str | None = None) -> str:
        url = self.admin.url.set(database=name)
        if user is not None:
            url = url.set(username=user)
        return url.render_as_string(hide_password=False)

    def clone(self, *, user: str | None = None, as_app: bool = True) -> str:
        """A new database from the template; its URL as `user`, else as the app role (or the
        superuser without `as_app`)."""
        name = f"hp_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        self.clones.append(name)
        return self._url(name, user=user or (self.app if as_app else None))

    def as_role(self, url: str, role: Literal["owner", "app", "superuser"]) -> str:
        """The same database's URL as another role."""
        database = make_url(url).database or ""
        users = {"owner": self.owner, "app": self.app, "superuser": None}
        return self._url(database, user=users[role])

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in [*self.clones, self.name]:
            self.drop(name)
        with self.admin.connect() as conn:
            # A privilege on a parameter is the server's, not a database's: it goes by hand.
            conn.execute(
                text(f'REVOKE SET ON PARAMETER session_replication_role FROM "{self.app}"')
            )
            for role in (self.app, self.owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PgTemplate | None]:
    if PG_URL is None:
        yield None
        return
    template = PgTemplate(PG_URL)
    yield template
    template.close()


@pytest.fixture(params=ENGINES)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    pg_template: PgTemplate | None,
) -> Iterator[str]:
    """A migrated, empty database on each engine: a SQLite file, or a PostgreSQL clone."""
    if request.param == "sqlite":
        path = tmp_path / "healthpod.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if pg_template is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI: set HEALTHPOD_TEST_PG_URL")
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    url = pg_template.clone()  # the app role, under row-level security, as in a region
    yield url
    pg_template.drop(make_url(url).database or "")


@pytest.fixture
def run(tmp_path: Path, database_url: str) -> Callable[..., Result]:
    """`healthpod ARGS` on the test's home and database; fails unless it exits `code`."""

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            cli,
            ["--home", str(tmp_path / "home"), "--database-url", database_url, *args],
            catch_exceptions=False,
        )
        assert result.exit_code == code, result.output
        return result

    return invoke


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return Settings(home=home, database_url=database_url)


@pytest.fixture
def pod(settings: Settings) -> Iterator[Pod]:
    opened = Pod.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def engine(pod: Pod) -> Engine:
    return pod.engine


@contextmanager
def as_superuser(engine: Engine) -> Iterator[Connection]:
    """A transaction on `engine`'s database as the server's superuser, past row-level
    security: what someone with the database's own keys can do, not the app. SQLite: the same
    engine."""
    if engine.dialect.name != "postgresql" or PG_URL is None:
        with engine.begin() as conn:
            yield conn
        return
    admin = make_url(PG_URL)
    url = engine.url.set(username=admin.username, password=admin.password)
    other = make_engine(url.render_as_string(hide_password=False))
    key = audit._keys.get(engine.pool)
    if key is not None:  # the same access log key as the app's engine
        audit.use_key(other, key)
    try:
        with other.begin() as conn:
            yield conn
    finally:
        other.dispose()
