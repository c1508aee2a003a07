"""Shared fixtures: real SQLite files and a real PostgreSQL server (HEALTHPOD_TEST_PG_URL)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from healthpod.config import Settings
from healthpod.pod import Pod
from healthpod.store import migrate
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
    """A migrated PostgreSQL database that each test clones with CREATE DATABASE … TEMPLATE."""

    def __init__(self, url: str) -> None:
        self.admin = make_engine(url, isolation_level="AUTOCOMMIT")
        self.name = f"hp_tpl_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine = make_engine(self._url(self.name))
        migrate.upgrade(engine)
        engine.dispose()
        self.clones: list[str] = []

    def _url(self, name: str) -> str:
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def clone(self) -> str:
        name = f"hp_t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        self.clones.append(name)
        return self._url(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in [*self.clones, self.name]:
            self.drop(name)
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
    url = pg_template.clone()
    yield url
    pg_template.drop(make_engine(url).url.database or "")


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
