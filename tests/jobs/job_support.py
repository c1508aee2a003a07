"""Helpers for the job tests: `healthpod worker` and `healthpod serve` subprocesses
over a PostgreSQL clone (or a SQLite file), and export files from the bench generator."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from healthpod.config import Settings
from healthpod.jobs import state
from healthpod.jobs.queue import PostgresQueue
from healthpod.jobs.state import FileJob, ImportJob
from healthpod.keys import secret_key
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.store.engine import make_engine

ROOT = Path(__file__).parents[2]
HEALTHPOD = (sys.executable, "-m", "healthpod")
# Large enough that an idle machine is still importing it when the test kills the process
# (200,000 records: about 2 s on SQLite, more on PostgreSQL; generated in a few seconds).
RECORDS = ("--records", "200000", "--out")
SMALL_EXPORT = ROOT / "src" / "healthpod" / "demo_data" / "healthkit-to-sqlite-export.xml"


@pytest.fixture(scope="session")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200,000-record export.xml (~130 MB) from the bench generator."""
    path = tmp_path_factory.mktemp("exports") / "export.xml"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_apple_export.py"), *RECORDS, str(path)],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture
def pg_url(pg_template) -> Iterator[str]:
    if pg_template is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI: set HEALTHPOD_TEST_PG_URL")
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    url = pg_template.clone(user=pg_template.app)  # the app role, under row-level security
    yield url
    pg_template.drop(url.rsplit("/", 1)[-1])


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "healthpod.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@dataclass
class Processes:
    """`healthpod` subprocesses of one test, each killed (by its id) when the test ends."""

    home: Path
    database_url: str
    logs: Path
    setup_url: str  # for the test's own setup and counts: every person's rows
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # settings for every process

    def start(self, *args: str, url: str | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{len(self.started):02d}-{args[0]}.log").open("wb")
        database = url or self.database_url
        process = subprocess.Popen(
            [*HEALTHPOD, "--home", str(self.home), "--database-url", database, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HEALTHPOD_LOG_LEVEL": "INFO", **self.env},
        )
        self.started.append(process)
        return process

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "--stalled-after", "2", *args)

    def serve(self) -> tuple[subprocess.Popen[bytes], str]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        # Workers run as the app role, under row-level security; the server signs people in,
        # which does not work as the app role yet, so it runs as the test's setup role.
        server = self.start("serve", "--port", str(port), url=self.setup_url)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(url, server), timeout=60, what="the server to start")
        return server, url

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process (and the reader processes it started, by their ids)."""
        children = psutil.Process(process.pid).children(recursive=True)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        for child in children:
            try:
                child.wait(5)  # a reader process ends when its parent's pipe closes
            except psutil.TimeoutExpired:
                child.kill()
            except psutil.NoSuchProcess:
                pass

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.iterdir()))

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    self.kill(process)


def _healthy(url: str, server: subprocess.Popen[bytes]) -> bool:
    if server.poll() is not None:
        raise RuntimeError("healthpod serve exited")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Callable[[], object], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def make_processes(tmp_path: Path, url: str, setup_url: str | None = None) -> Processes:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    secret_key(home)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return Processes(home, url, logs, setup_url or url)


@pytest.fixture
def pg_processes(tmp_path: Path, pg_url: str, pg_template) -> Iterator[Processes]:
    processes = make_processes(tmp_path, pg_url, pg_template.as_role(pg_url, "superuser"))
    yield processes
    processes.stop_all()


@pytest.fixture
def sqlite_processes(tmp_path: Path, sqlite_url: str) -> Iterator[Processes]:
    processes = make_processes(tmp_path, sqlite_url)
    yield processes
    processes.stop_all()


def open_pod(processes: Processes, *, setup: bool = False) -> Pod:
    url = processes.setup_url if setup else processes.database_url
    return Pod.open(Settings(home=processes.home, database_url=url))


def add_person(processes: Processes, name: str) -> int:
    """A person made by the test's setup (as an operator would), without an account."""
    pod = open_pod(processes, setup=True)
    try:
        return pod.person_id(name)
    finally:
        pod.close()


def add_account(processes: Processes, username: str) -> int:
    """A person with an account (smart_support.PASSWORD), made by the test's setup."""
    from smart_support import add_person as add_person_with_account

    pod = open_pod(processes, setup=True)
    try:
        return add_person_with_account(pod.engine, username)
    finally:
        pod.close()


def saved_job(pod: Pod, person_id: int, source: Path) -> ImportJob:
    """A job for `source` as the upload form saves it (the file copied into the job's folder)."""
    job, folder = state.new_job(pod.settings.home, person_id)
    (folder / "000").mkdir()
    shutil.copy(source, folder / "000" / source.name)
    job.files.append(
        FileJob(name=source.name, path=f"000/{source.name}", bytes_total=source.stat().st_size)
    )
    state.save(pod.settings.home, job)
    return job


def enqueue(pod: Pod, person_id: int, source: Path) -> ImportJob:
    """Save a job for `source` and put it on the PostgreSQL queue, as a web upload does."""
    job = saved_job(pod, person_id, source)
    queue = PostgresQueue(pod)
    try:
        queue.enqueue(job)
    finally:
        queue.close()
    return job


def job_of(pod: Pod, job: ImportJob) -> ImportJob:
    found = state.load(pod.settings.home, job.id)
    assert found is not None
    return found


def stored(where: Processes | Pod, person_id: int) -> tuple[int, int]:
    """(imports rows, samples of every kind) of the person."""
    tables = [schema.quantity_samples, schema.category_samples, schema.workouts]
    engine = where.engine if isinstance(where, Pod) else make_engine(where.setup_url)
    with engine.connect() as conn:
        imports = conn.scalar(
            select(func.count())
            .select_from(schema.imports)
            .where(schema.imports.c.person_id == person_id)
        )
        samples = sum(
            int(
                conn.scalar(select(func.count()).select_from(t).where(t.c.person_id == person_id))
                or 0
            )
            for t in tables
        )
    if not isinstance(where, Pod):
        engine.dispose()
    return int(imports or 0), samples


def reading(pod: Pod, job: ImportJob) -> bool:
    """Whether the job's file is being read (some bytes done, not finished)."""
    current = job_of(pod, job)
    return current.files[0].status == "running" and current.files[0].bytes_done > 0


def upload(client: httpx.Client, path: Path) -> str:
    """Upload `path` through the import form; returns the job page's path."""
    page = client.get("/import", headers={"accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no upload form"
    with path.open("rb") as fp:
        response = client.post(
            "/import",
            data={"csrf_token": token.group(1)},
            files=[("files", (path.name, fp, "application/xml"))],
            headers={"accept": "text/html"},
            timeout=120,
        )
    assert response.status_code == 303, response.text[:500]
    return str(response.headers["location"])
