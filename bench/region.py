"""A region's load: many persons on PostgreSQL, citizens and actors at once through the server.

    .venv/bin/python bench/region.py --database-url postgresql://user@host/postgres \\
        [--persons 10000] [--days 30] [--citizens 200] [--actors 50] [--seconds 60] \\
        [--serve-workers 4] [--queue-workers 1] [--keep DIR | --reuse DIR]

Builds a pod in a new database on the PostgreSQL server: PERSONS persons, each with DAYS days
of the demo's realistic data (heart rate, steps, energy, sleep, workouts …, one of four
variants) imported through the real Apple Health importer; the first CITIZENS persons get an
account, and ACTORS actors (coaches) each get a consent for heart data from a few persons
and an access token. Then `healthpod serve` (SERVE_WORKERS processes) and QUEUE_WORKERS
`healthpod worker` processes run while, for SECONDS seconds, every citizen logs in once and
then asks for their overview, a chart page or (one request in ten) uploads one day of new
data, and every actor pages FHIR heart rate of one of its persons, each user one request
after another. It prints requests/s, p50/p95/p99 per kind, errors (the target is none), how
long the uploads waited in the queue, and the database's size per person; then the same
mix for one person, one citizen and one actor on SQLite as the reference.

`--keep DIR` builds the PostgreSQL region in DIR and leaves it (its database and a
region.json) for later runs; `--reuse DIR` runs the load on such a region again without
building it (a region of 1,000 persons takes a quarter of an hour to build). The database of
a kept region is dropped by hand (its URL is in region.json).

`--think S` makes every citizen and actor pause a random time between requests (exponential,
mean S seconds), as a person reads a page before the next: without it (0, the default) each
of them asks again the moment an answer arrives, so the run measures the server saturated,
where every request waits behind all the others (latency = users / throughput) and p95 says
more about the number of users than about the server.

`--app-role` runs the server and the queue workers as a role like the app's (no superuser,
no BYPASSRLS), so that row-level security is on as in a region; the region is built as the
URL's role either way.

Citizens log in before the clock starts (a login is an argon2 hash, about 0.1 s of CPU, and
200 at once is a start-up burst, not the steady load); the logins are reported on their own.

Targets (issue #13): p95 under 300 ms for pages, under 100 ms for FHIR pages. The issue's
size is 10 000 persons x 30 days (about 20 million samples); on a shared 2-core machine run
a smaller one (say --persons 100 --citizens 20 --actors 5) and say so with the figures: the
load generator, the server, the workers and PostgreSQL all share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from bench_support import APP_ROLE, as_app_role, fresh_database
from sqlalchemy import text

from healthpod import accounts
from healthpod.config import Settings
from healthpod.consent import actors, audit
from healthpod.consent import store as consent_store
from healthpod.consent.model import Action, Granularity, Scope
from healthpod.demo_export import write_export
from healthpod.ingest.run import import_file
from healthpod.keys import access_log_key
from healthpod.oauth import tokens
from healthpod.pod import Pod

DAY_MS = 86_400_000
PASSWORD = "region bench password"
LOINC_HR = "http://loinc.org|8867-4"
HTML = {"accept": "text/html"}
VARIANTS = 4
PERSONS_PER_ACTOR = 4
# Below uvicorn's keep-alive timeout (5 s): a connection idle through a user's pause is not
# reused just as the server closes it (a browser retries then; httpx reports an error).
LIMITS = httpx.Limits(keepalive_expiry=4)


@dataclass
class Region:
    home: Path
    url: str
    citizens: list[str]  # usernames
    actor_tokens: list[list[str]]  # per actor: one token per person who consented
    since_ms: int
    build_s: float
    samples: int
    persons: int


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    uploads: list[str] = field(default_factory=list)  # job pages
    queue: list[float] = field(default_factory=list)  # upload to imported, seconds
    unfinished: int = 0  # uploads still not imported 120 s after the load
    logins: list[float] = field(default_factory=list)  # before the clock starts, seconds
    timeline: list[tuple[float, float, str]] = field(default_factory=list)  # (start, s, kind)
    started: float = 0.0  # time.perf_counter() when the clock started
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the clock, by part


def _healthpod(home: Path, url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "healthpod", "--home", str(home), "--database-url", url, *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPOD_")}
    env["HEALTHPOD_LOG_LEVEL"] = "WARNING"
    return env


def build(url: str, home: Path, persons: int, days: int, citizens: int, n_actors: int) -> Region:
    """The region's pod: persons with data, citizens' accounts, actors with consents."""
    started = time.perf_counter()
    subprocess.run(_healthpod(home, url, "init"), check=True, capture_output=True, env=_env())
    settings = Settings(home=home, database_url=url)
    pod = Pod.open(settings)
    audit.use_key(pod.engine, access_log_key(settings))
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    exports = []
    for seed in range(VARIANTS):
        path = home / f"variant-{seed}.xml"
        write_export(path, end=now, days=days, seed=seed)
        exports.append(path)
    samples = 0
    names = [f"person{i:05d}" for i in range(persons)]
    for i, name in enumerate(names):
        report = import_file(pod, exports[i % VARIANTS], person=name)
        samples += report.total_added
        if (i + 1) % 25 == 0:
            print(f"  {i + 1:,} persons imported ({time.perf_counter() - started:.0f} s)")
    usernames = []
    with pod.engine.begin() as conn:
        for i in range(min(citizens, persons)):
            username = f"citizen{i:05d}"
            person_id = pod.person_id(names[i], connection=conn)
            accounts.create_account(conn, username, PASSWORD, person_id=person_id, now_ms=now_ms)
            usernames.append(username)
        actor_tokens: list[list[str]] = []
        scope = Scope(
            frozenset({"heart"}), granularity=Granularity.RAW, actions=frozenset({Action.READ})
        )
        for a in range(n_actors):
            registration = actors.register(
                conn,
                name=f"Coach {a}",
                kind="coach",
                purpose="dpv:ServiceProvision",
                redirect_uris=["http://127.0.0.1:9/cb"],
                public=True,
                now_ms=now_ms,
            )
            mine = []
            for k in range(PERSONS_PER_ACTOR):
                person_id = pod.person_id(
                    names[(a * PERSONS_PER_ACTOR + k) % persons], connection=conn
                )
                consent = consent_store.grant(
                    conn,
                    person_id,
                    registration.actor.id,
                    scope,
                    valid_until_ms=None,
                    now_ms=now_ms,
                )
                mine.append(
                    tokens.issue(
                        conn,
                        kind="access",
                        family=f"region-{a}-{k}",
                        person_id=person_id,
                        actor_id=registration.actor.id,
                        consent_id=consent.id,
                        scope="patient/Observation.rs",
                        now_ms=now_ms,
                        expires_ms=now_ms + 6 * 3600 * 1000,
                    )
                )
            actor_tokens.append(mine)
    if pod.engine.dialect.name == "postgresql":
        with pod.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    pod.close()
    return Region(
        home=home,
        url=url,
        citizens=usernames,
        actor_tokens=actor_tokens,
        since_ms=now_ms - min(days, 30) * DAY_MS,
        build_s=time.perf_counter() - started,
        samples=samples,
        persons=persons,
    )


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        raise RuntimeError("no form with a CSRF token on the page")
    return match.group(1)


async def _timed(results: Results, kind: str, request: object) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response: httpx.Response = await request  # type: ignore[misc]
    except httpx.HTTPError as error:
        results.errors[f"{kind} {type(error).__name__}"] += 1
        return None
    took = time.perf_counter() - started
    results.latencies[kind].append(took)
    results.timeline.append((started - results.started, took, kind))
    if response.status_code >= 400:
        results.errors[f"{kind} {response.status_code}"] += 1
    return response


async def log_in(base: str, username: str, results: Results) -> httpx.AsyncClient | None:
    """A client with the citizen's session, or None (counted as an error)."""
    client = httpx.AsyncClient(base_url=base, timeout=60, headers=HTML, limits=LIMITS)
    started = time.perf_counter()
    page = await client.get("/login")
    login = await client.post(
        "/login",
        data={"csrf_token": _csrf(page.text), "username": username, "password": PASSWORD},
    )
    results.logins.append(time.perf_counter() - started)
    if login.status_code >= 400:
        results.errors["login"] += 1
        await client.aclose()
        return None
    return client


async def _pause(rng: random.Random, think: float, deadline: float) -> bool:
    """Think for a while; whether there is time left for a request after it."""
    if think > 0:
        left = max(0.0, deadline - time.monotonic())
        await asyncio.sleep(min(rng.expovariate(1 / think), left))
    return time.monotonic() < deadline


async def citizen(
    client: httpx.AsyncClient,
    username: str,
    deadline: float,
    results: Results,
    upload: bytes,
    think: float,
) -> None:
    try:
        rng = random.Random(username)
        while time.monotonic() < deadline:
            if not await _pause(rng, think, deadline):
                break
            roll = rng.random()
            if roll < 0.1:
                form = await client.get("/import")
                response = await _timed(
                    results,
                    "upload",
                    client.post(
                        "/import",
                        data={"csrf_token": _csrf(form.text)},
                        files={"files": (f"{username}-{time.time_ns()}.xml", upload, "text/xml")},
                        follow_redirects=False,
                    ),
                )
                if response is not None and response.status_code == 303:
                    results.uploads.append(response.headers["location"])
            elif roll < 0.55:
                await _timed(results, "overview", client.get("/"))
            else:
                code = rng.choice(("heart_rate", "steps", "sleep_analysis"))
                await _timed(results, "chart", client.get(f"/type/{code}"))
    finally:
        await client.aclose()


async def actor(
    base: str, tokens_: list[str], since: str, deadline: float, results: Results, think: float
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as client:
        rng = random.Random(tokens_[0])
        while time.monotonic() < deadline:
            if not await _pause(rng, think, deadline):
                break
            token = rng.choice(tokens_)
            await _timed(
                results,
                "fhir",
                client.get(
                    "/fhir/Observation",
                    params={"code": LOINC_HR, "date": f"ge{since}", "_count": "50"},
                    headers={"authorization": f"Bearer {token}", "accept": "application/fhir+json"},
                ),
            )


def queue_latencies(home: Path, limit_s: float, since_ms: int) -> tuple[list[float], int]:
    """Wait (up to `limit_s`) for the queued uploads to finish; per finished job uploaded
    since `since_ms` (not an earlier run's), the seconds from its upload to its record's last
    write (its end), and how many never finished."""
    from healthpod.jobs import state

    deadline = time.monotonic() + limit_s
    while state.unfinished(home) and time.monotonic() < deadline:
        time.sleep(1)
    waits, unfinished = [], 0
    folder = state.uploads(home)
    for job_folder in folder.iterdir() if folder.is_dir() else []:
        job = state.load(home, job_folder.name)
        if job is None or job.created_ms < since_ms:
            continue
        if not job.finished:
            unfinished += 1
            continue
        record = job_folder / state.STATE_FILE
        waits.append(record.stat().st_mtime - job.created_ms / 1000)
    return waits, unfinished


def _cpu_seconds(processes: list[subprocess.Popen[bytes]], url: str) -> dict[str, float]:
    """CPU seconds used so far by the server (with its worker processes), the queue workers,
    and the PostgreSQL backends serving this database, by pid (so that the clock's share can
    be told even of a backend that started during it)."""
    import psutil  # type: ignore[import-untyped]

    used: dict[str, float] = {}

    def add(part: str, process: psutil.Process) -> None:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return
        used[f"{part} {process.pid}"] = times.user + times.system

    for i, popen in enumerate(processes):
        part = "server" if i == 0 else "queue"
        try:
            root = psutil.Process(popen.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in tree:
            add(part, process)
    if url.startswith("postgresql"):
        from healthpod.store.engine import make_engine

        engine = make_engine(url)
        with engine.connect() as conn:
            pids = conn.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            ).all()
        engine.dispose()
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                add("postgresql", psutil.Process(pid))
    return used


def _cpu_during(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    spent: dict[str, float] = defaultdict(float)
    for key, seconds in after.items():
        spent[key.split()[0]] += seconds - before.get(key, 0.0)
    return dict(spent)


def run(
    region: Region, seconds: float, serve_workers: int, queue_workers: int, think: float = 0.0
) -> Results:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env()
    processes = [
        subprocess.Popen(
            _healthpod(
                region.home,
                region.url,
                "serve",
                "--port",
                str(port),
                "--workers",
                str(serve_workers),
                "--threads",
                "1",
            ),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    if region.url.startswith("postgresql"):
        processes += [
            subprocess.Popen(
                _healthpod(region.home, region.url, "worker", "--concurrency", "1"),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(queue_workers)
        ]
    results = Results()
    try:
        _wait_for(base)
        upload = (region.home / "upload.xml").read_bytes()
        since = datetime.fromtimestamp(region.since_ms / 1000, UTC).date().isoformat()

        async def everyone() -> float:
            clients = await asyncio.gather(*(log_in(base, u, results) for u in region.citizens))
            cpu_before = _cpu_seconds(processes, region.url)
            results.started = time.perf_counter()
            deadline = time.monotonic() + seconds
            await asyncio.gather(
                *(
                    citizen(c, u, deadline, results, upload, think)
                    for c, u in zip(clients, region.citizens, strict=True)
                    if c is not None
                ),
                *(actor(base, t, since, deadline, results, think) for t in region.actor_tokens),
            )
            elapsed = time.perf_counter() - results.started
            results.cpu = _cpu_during(cpu_before, _cpu_seconds(processes, region.url))
            return elapsed

        since_ms = time.time_ns() // 1_000_000
        results.latencies["_elapsed"] = [asyncio.run(everyone())]
        results.queue, results.unfinished = queue_latencies(region.home, 120, since_ms)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return results


def _wait_for(base: str) -> None:
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, region: Region, results: Results, persons: int, size: int | None) -> None:
    elapsed = results.latencies.pop("_elapsed", [1.0])[0]
    total = sum(len(v) for v in results.latencies.values())
    errors = sum(results.errors.values())
    print(
        f"\n{label}: {total:,} requests in {elapsed:.0f} s = {total / elapsed:.1f} requests/s, "
        f"{errors} errors {dict(results.errors) if errors else ''}"
    )
    print(f"  {'kind':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, values in sorted(results.latencies.items()):
        print(
            f"  {kind:<10} {len(values):>7,} {statistics.median(values) * 1000:>8.0f} "
            f"{percentile(values, 0.95) * 1000:>8.0f} {percentile(values, 0.99) * 1000:>8.0f}"
        )
    if results.cpu and total:
        print(
            "  CPU per request during the clock: "
            + ", ".join(
                f"{part} {seconds / total * 1000:.1f} ms"
                for part, seconds in sorted(results.cpu.items())
            )
            + f" (of {elapsed:.0f} s x 2 cores)"
        )
    if results.logins:
        print(
            f"  {len(results.logins)} logins before the clock: p50 "
            f"{statistics.median(results.logins) * 1000:.0f} ms, max "
            f"{max(results.logins) * 1000:.0f} ms"
        )
    slowest = sorted(results.timeline, key=lambda t: -t[1])[:5]
    if slowest:
        print(
            "  slowest: "
            + ", ".join(f"{kind} {took:.2f} s at {at:.0f} s" for at, took, kind in slowest)
        )
    if size is not None:
        print(
            f"  database {size / 1e6:,.0f} MB = {size / persons / 1e6:.2f} MB per person "
            f"({region.samples / persons:,.0f} samples each)"
        )


def database_size(url: str) -> int | None:
    if not url.startswith("postgresql"):
        return None
    from healthpod.store.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        size = int(conn.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    engine.dispose()
    return size


def _save(region: Region, folder: Path) -> None:
    fields = asdict(region) | {"home": str(region.home)}
    (folder / "region.json").write_text(json.dumps(fields))


def _load(folder: Path) -> Region:
    fields = json.loads((folder / "region.json").read_text())
    return Region(**(fields | {"home": Path(fields["home"])}))


def _measure(label: str, region: Region, persons: int, args: argparse.Namespace) -> None:
    if args.app_role and region.url.startswith("postgresql"):
        region = replace(region, url=as_app_role(region.url))
        print(f"  the server and the queue workers connect as {APP_ROLE} (row-level security)")
    print(
        f"  load average before the run: {os.getloadavg()[0]:.1f}; {len(region.citizens)} "
        f"citizens and {len(region.actor_tokens)} actors for {args.seconds:.0f} s, think "
        f"{args.think:g} s, {args.serve_workers} server and {args.queue_workers} queue workers",
        flush=True,
    )
    results = run(region, args.seconds, args.serve_workers, args.queue_workers, args.think)
    report(label, region, results, persons, database_size(region.url))
    if results.queue:
        print(
            f"  queue: {len(results.queue)} uploads imported, upload to imported p50 "
            f"{statistics.median(results.queue):.1f} s, p95 "
            f"{percentile(results.queue, 0.95):.1f} s; {results.unfinished} not done"
        )


def _build(url: str, home: Path, label: str, persons: int, args: argparse.Namespace) -> Region:
    print(f"{label}: building {persons:,} persons x {args.days} days …", flush=True)
    citizens, n_actors = (1, 1) if persons == 1 else (args.citizens, args.actors)
    region = build(url, home, persons, args.days, citizens, n_actors)
    write_export(home / "upload.xml", end=datetime.now(UTC), days=1, seed=99)
    print(f"  built in {region.build_s:.0f} s: {region.samples:,} samples", flush=True)
    return region


def _kept(server_url: str, folder: Path, args: argparse.Namespace) -> None:
    """Build the region in `folder` (and a database of its own) and leave both."""
    from healthpod.store.engine import make_engine

    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"bench_region_kept_{args.persons}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    home = folder / "home"
    home.mkdir(parents=True)
    region = _build(url, home, "PostgreSQL", args.persons, args)
    _save(region, folder)
    print(f"  kept in {folder} (database {name}); run it again with --reuse {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--actors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--serve-workers", type=int, default=4)
    parser.add_argument("--queue-workers", type=int, default=1)
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean pause between a user's requests, s"
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite reference run")
    parser.add_argument(
        "--app-role",
        action="store_true",
        help="serve as a role without BYPASSRLS (row-level security on), not the URL's",
    )
    parser.add_argument("--only-sqlite", action="store_true", help="only the SQLite reference")
    parser.add_argument("--keep", type=Path, help="build the region in this new folder, keep it")
    parser.add_argument("--reuse", type=Path, help="run on a region kept with --keep")
    args = parser.parse_args()
    if args.reuse:
        region = _load(args.reuse)
        print(
            f"PostgreSQL: the region kept in {args.reuse}: {region.persons:,} persons, "
            f"{region.samples:,} samples"
        )
        _measure("PostgreSQL", region, region.persons, args)
    elif args.keep:
        _kept(args.database_url, args.keep, args)
        _measure("PostgreSQL", _load(args.keep), args.persons, args)
    postgresql = not (args.keep or args.reuse or args.only_sqlite)
    runs = [("PostgreSQL", args.database_url, args.persons)] if postgresql else []
    if not args.skip_sqlite:
        runs.append(("SQLite, one person", None, 1))
    for label, server_url, persons in runs:
        with (
            tempfile.TemporaryDirectory() as tmp,
            fresh_database(server_url, Path(tmp), prefix="bench_region") as url,
        ):
            home = Path(tmp) / "home"
            home.mkdir()
            _measure(label, _build(url, home, label, persons, args), persons, args)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared with everything)")


if __name__ == "__main__":
    main()
