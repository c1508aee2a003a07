"""Measure the FHIR API under consent: pages of heart rate through `healthpod serve`.

    .venv/bin/python bench/api.py [--samples 1000000] [--clients 8] [--workers 2xCORES]
                                  [--threads 1] [--database-url URL [--app-role]]

Builds a pod with SAMPLES heart-rate samples spread over two years (a fresh SQLite file, or a
new database on the PostgreSQL server given), registers an actor with a consent for heart
data and an access token, starts `healthpod serve` in a subprocess, and has CLIENTS clients
each page through the last 30 days (`Observation?code=…8867-4&date=ge…&_count=100`, following
the `next` links) at the same time. Every page goes the full path: token lookup, consent
decision, access-log entry (committed), scoped SQL, FHIR JSON.

With `--app-role` (PostgreSQL) the server connects as an app role that owns nothing (`healthpod
db roles`), so every read runs under row-level security, as in a region; without it, as the
URL's own role (a superuser passes the policies by).

Then serves the same pages straight from SQL + json.dumps (keyset paging, no HTTP, no
consent, no log, one thread) and prints the ratio.

It also prints the CPU time the server used per page, and the load average: on a machine
shared with other work the rate says as much about that work as about the server.

Targets (issue #4, on this machine, the load generator sharing its cores): p95 < 50 ms,
>= 300 pages/s, and at least a fifth of the raw SQL rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import psutil
import uvloop
from bench_support import fresh_database
from sqlalchemy import Engine, insert, select, text

from healthpod.config import Settings
from healthpod.consent import actors, audit
from healthpod.consent import store as consent_store
from healthpod.consent.model import Action, Granularity, Scope
from healthpod.keys import access_log_key
from healthpod.oauth import tokens
from healthpod.store import migrate, persons, rls, schema
from healthpod.store.engine import make_engine

DAY_MS = 86_400_000
PAGE = 100
LOINC_HR = "http://loinc.org|8867-4"


def build_pod(engine: Engine, samples: int, now_ms: int) -> tuple[int, str, int]:
    """(person id, access token, start of the 30-day window)."""
    migrate.upgrade(engine)
    span = 730 * DAY_MS
    step = span // samples
    start = now_ms - span
    with engine.begin() as conn:
        person = persons.add(conn, "Bench", now_ms=now_ms)
        type_id = conn.execute(
            insert(schema.sample_types)
            .values(code="heart_rate", kind="quantity", unit="/min")
            .returning(schema.sample_types.c.id)
        ).scalar_one()
        source = conn.execute(
            insert(schema.sources)
            .values(person_id=person, name="Watch")
            .returning(schema.sources.c.id)
        ).scalar_one()
        import_id = conn.execute(
            insert(schema.imports)
            .values(
                person_id=person,
                filename="bench",
                sha256="0" * 64,
                format="bench",
                status="completed",
                added={},
                unknown_types=[],
                warnings=[],
                started_ms=now_ms,
                finished_ms=now_ms,
            )
            .returning(schema.imports.c.id)
        ).scalar_one()
        batch = []
        for i in range(samples):
            at = start + i * step
            batch.append(
                {
                    "person_id": person,
                    "type_id": type_id,
                    "start_ms": at,
                    "end_ms": at,
                    "start_offset_min": 60,
                    "end_offset_min": 60,
                    "source_id": source,
                    "import_id": import_id,
                    "value": 50 + (i * 7919) % 90,
                    "unit": "/min",
                }
            )
            if len(batch) == 20_000:
                conn.execute(insert(schema.quantity_samples), batch)
                batch.clear()
        if batch:
            conn.execute(insert(schema.quantity_samples), batch)
        registration = actors.register(
            conn,
            name="Bench Coach",
            kind="coach",
            purpose="dpv:ServiceProvision",
            redirect_uris=["http://127.0.0.1:9/cb"],
            public=True,
            now_ms=now_ms,
        )
        consent = consent_store.grant(
            conn,
            person,
            registration.actor.id,
            Scope(
                frozenset({"heart"}), granularity=Granularity.RAW, actions=frozenset({Action.READ})
            ),
            valid_until_ms=None,
            now_ms=now_ms,
        )
        token = tokens.issue(
            conn,
            kind="access",
            family="bench",
            person_id=person,
            actor_id=registration.actor.id,
            consent_id=consent.id,
            scope="patient/Observation.rs",
            now_ms=now_ms,
            expires_ms=now_ms + 3 * 3600 * 1000,
        )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return int(person), token, now_ms - 30 * DAY_MS


def _app_role(engine: Engine) -> tuple[str, list[str]]:
    """Make an owner and an app role for this database; the URL as the app role."""
    tag = os.urandom(4).hex()
    owner, app = f"bench_own_{tag}", f"bench_app_{tag}"
    database = engine.url.database or ""
    with engine.connect() as conn:
        for statement in rls.role_sql(owner, app, database):
            conn.exec_driver_sql(statement)
        conn.commit()
    url = engine.url.set(username=app, password=None)
    return url.render_as_string(hide_password=False), [app, owner]


def _drop_roles(server_url: str, roles: list[str]) -> None:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in roles:  # a privilege on a parameter is the server's: it goes by hand
            conn.execute(text(f'REVOKE SET ON PARAMETER session_replication_role FROM "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _day(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def run_clients(
    base: str, token: str, since_ms: int, clients: int
) -> tuple[list[float], int, float]:
    """CLIENTS keep-alive HTTP/1.1 connections paging at once; (latencies, pages, seconds).

    The clients are asyncio tasks on one thread speaking HTTP/1.1 by hand, not httpx in
    threads: the load generator shares the server's two cores, and httpx's per-request work
    (plus eight threads taking turns on the GIL) cost more CPU per page than the server's whole
    path. Each response is read in full and its `next` link found in it; every 50th page and
    each last page are parsed whole and checked (parsing all of them cost the load generator
    0.6 ms a page, a fifth of the server's).
    """
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_clients(base, token, since_ms, clients))


async def _run_clients(
    base: str, token: str, since_ms: int, clients: int
) -> tuple[list[float], int, float]:
    parts = urlsplit(base)
    first = "/fhir/Observation?" + urlencode(
        {"code": LOINC_HR, "date": f"ge{_day(since_ms)}", "_count": str(PAGE)}
    )
    latencies: list[float] = []
    errors: list[str] = []

    async def one_client() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        target: str | None = first
        try:
            while target is not None:
                request = (
                    f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Authorization: Bearer {token}\r\nAccept: application/fhir+json\r\n\r\n"
                )
                started = time.perf_counter()
                writer.write(request.encode())
                status, body = await _response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{status} {body[:200]!r}")
                    return
                found = _NEXT.search(body)
                target = None
                if found is not None:
                    split = urlsplit(found[1].decode())
                    target = f"{split.path}?{split.query}"
                if len(latencies) % 50 == 0 or target is None:
                    _check_page(body, target)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"requests failed: {errors[:3]}")
    return latencies, len(latencies), elapsed


_NEXT = re.compile(rb'"relation":"next","url":"([^"]+)"')


def _check_page(body: bytes, next_target: str | None) -> None:
    """A whole parse of some pages: a searchset of Observations whose next link we followed."""
    bundle = orjson.loads(body)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert all(e["resource"]["resourceType"] == "Observation" for e in bundle.get("entry", []))
    nexts = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    assert (urlsplit(nexts[0]).query if nexts else None) == (
        urlsplit(next_target).query if next_target else None
    )


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length (what uvicorn sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def raw_sql(engine: Engine, person: int, since_ms: int) -> tuple[int, float]:
    """The same pages straight from SQL + json.dumps: keyset paging, one thread."""
    q = schema.quantity_samples
    type_id = None
    with engine.connect() as conn:
        type_id = conn.scalar(
            select(schema.sample_types.c.id).where(schema.sample_types.c.code == "heart_rate")
        )
        started = time.perf_counter()
        pages, after = 0, (since_ms - 1, 0)
        while True:
            rows = conn.execute(
                select(q.c.id, q.c.start_ms, q.c.start_offset_min, q.c.value, q.c.unit)
                .where(q.c.person_id == person, q.c.type_id == type_id, q.c.start_ms >= after[0])
                .where(~((q.c.start_ms == after[0]) & (q.c.id <= after[1])))
                .order_by(q.c.start_ms, q.c.id)
                .limit(PAGE)
            ).all()
            json.dumps(
                [
                    {
                        "id": r.id,
                        "start_ms": r.start_ms,
                        "offset": r.start_offset_min,
                        "value": r.value,
                        "unit": r.unit,
                    }
                    for r in rows
                ]
            )
            pages += 1
            if len(rows) < PAGE:
                break
            after = (rows[-1].start_ms, rows[-1].id)
        return pages, time.perf_counter() - started


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server and its worker processes so far.

    On a machine shared with other work, pages/s says as much about the others as about us;
    CPU per page says what a page costs.
    """
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite)")
    # Two processes per core with one request thread each is the throughput set-up that
    # docs/settings.md (HEALTHPOD_SERVER_THREADS) recommends; both can be changed here.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument(
        "--workers", type=int, default=2 * (cores or 1), help="server worker processes"
    )
    parser.add_argument("--threads", type=int, default=1, help="request threads per worker")
    parser.add_argument(
        "--app-role",
        action="store_true",
        help="serve as an app role under row-level security (PostgreSQL)",
    )
    args = parser.parse_args()
    if args.app_role and args.database_url is None:
        parser.error("--app-role needs --database-url (PostgreSQL)")
    roles: list[str] = []

    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(args.database_url, Path(tmp), prefix="bench_api") as url,
    ):
        home = Path(tmp) / "home"
        home.mkdir()
        engine = make_engine(url)
        # The server signs the access log with the key in its home; so does this engine.
        audit.use_key(engine, access_log_key(Settings(home=home, database_url=url)))
        now_ms = time.time_ns() // 1_000_000
        started = time.perf_counter()
        person, token, since_ms = build_pod(engine, args.samples, now_ms)
        print(
            f"pod: {args.samples:,} heart-rate samples on {engine.dialect.name} "
            f"({time.perf_counter() - started:.1f} s to build)"
        )

        served = url
        if args.app_role:
            served, roles = _app_role(engine)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPOD_")}
        env["HEALTHPOD_LOG_LEVEL"] = "WARNING"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "healthpod",
                "--home",
                str(home),
                "--database-url",
                served,
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.3)
            run_clients(base, token, now_ms - DAY_MS, 2)  # warm up
            server_cpu, own_cpu = _cpu_seconds(server.pid), time.process_time()
            latencies, pages, elapsed = run_clients(base, token, since_ms, args.clients)
            server_cpu = _cpu_seconds(server.pid) - server_cpu
            own_cpu = time.process_time() - own_cpu
        finally:
            server.terminate()
            server.wait(timeout=30)

        raw_pages, raw_elapsed = raw_sql(engine, person, since_ms)
        engine.dispose()
    if roles:
        _drop_roles(args.database_url, roles)

    print(f"server's database role: {'app role, row-level security' if roles else 'as given'}")
    rate = pages / elapsed
    raw_rate = raw_pages / raw_elapsed
    p50, p95 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.95) * 1000
    print(
        f"API ({args.workers} worker process(es), {args.threads} thread(s) each): "
        f"{args.clients} clients, "
        f"{pages} pages of {PAGE} in {elapsed:.1f} s: "
        f"{rate:.0f} pages/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(mean {statistics.fmean(latencies) * 1000:.1f} ms)"
    )
    print(f"raw SQL + json.dumps: {raw_pages} pages in {raw_elapsed:.2f} s: {raw_rate:.0f} pages/s")
    print(
        f"CPU per page: server {server_cpu / pages * 1000:.1f} ms "
        f"({server_cpu / elapsed:.2f} cores busy), load generator {own_cpu / pages * 1000:.2f} ms"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"ratio API/raw: {rate / raw_rate:.2f} (target >= 0.20); "
        f"p95 target < 50 ms: {'met' if p95 < 50 else 'NOT met'}; "
        f">= 300 pages/s: {'met' if rate >= 300 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
