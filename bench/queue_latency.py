#!/usr/bin/env python3
"""Queue latency on PostgreSQL: small imports of one person while another's large one runs.

Makes a fresh database next to the one given (dropped at the end), one person with a large
export (the bench generator's --records) and one with --small small exports, starts
`healthpod worker --concurrency 2`, queues the large job first and then the small ones, and
prints how long each small job took from being queued to being done, and the large one's.

Usage:
    python bench/queue_latency.py --database-url postgresql://user@host:5432/postgres
    python bench/queue_latency.py --database-url ... --records 200000 --small 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text  # noqa: E402

from healthpod.config import Settings  # noqa: E402
from healthpod.jobs import state  # noqa: E402
from healthpod.jobs.queue import PostgresQueue  # noqa: E402
from healthpod.jobs.state import FileJob, ImportJob  # noqa: E402
from healthpod.pod import Pod  # noqa: E402
from healthpod.store import migrate  # noqa: E402
from healthpod.store.engine import make_engine  # noqa: E402

SMALL = ROOT / "src" / "healthpod" / "demo_data" / "healthkit-to-sqlite-export.xml"


def _job(pod: Pod, person_id: int, source: Path) -> ImportJob:
    job, folder = state.new_job(pod.settings.home, person_id)
    (folder / "000").mkdir()
    shutil.copy(source, folder / "000" / source.name)
    size = source.stat().st_size
    job.files.append(FileJob(name=source.name, path=f"000/{source.name}", bytes_total=size))
    state.save(pod.settings.home, job)
    return job


def _done_at(pod: Pod, job: ImportJob) -> float | None:
    path = state.uploads(pod.settings.home) / job.id / state.STATE_FILE
    found = state.load(pod.settings.home, job.id)
    return path.stat().st_mtime if found is not None and found.finished else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", required=True, help="a PostgreSQL server (any database)")
    ap.add_argument("--records", type=int, default=100_000, help="records of the large export")
    ap.add_argument("--small", type=int, default=10, help="how many small imports")
    ap.add_argument(
        "--small-worker",
        action="store_true",
        help="also start a worker with --queue small (a process of its own for small jobs)",
    )
    args = ap.parse_args()

    admin = make_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"hp_bench_queue_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        big = work / "export.xml"
        generator = [sys.executable, str(ROOT / "bench" / "gen_apple_export.py")]
        subprocess.run(
            [*generator, "--records", str(args.records), "--out", str(big)],
            check=True,
            capture_output=True,
        )
        pod = Pod.open(Settings(home=work / "home", database_url=url), check=False)
        migrate.upgrade(pod.engine)
        anna, bo = pod.person_id("Anna"), pod.person_id("Bo")
        home = ["--home", str(work / "home"), "--database-url", url]
        kinds = [["--concurrency", "2"]] + ([["--queue", "small"]] if args.small_worker else [])
        for kind in kinds:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "healthpod", *home, "worker", *kind],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"},
                )
            )
        queue = PostgresQueue(pod)
        queued: dict[str, float] = {}
        for _warm_up_then_measure in range(2):  # the first waits for the workers to start
            alone = _job(pod, bo, SMALL)  # one small import with the workers idle
            queued[alone.id] = time.time()
            queue.enqueue(alone)
            while _done_at(pod, alone) is None:
                time.sleep(0.05)
        alone_s = (_done_at(pod, alone) or 0) - queued[alone.id]
        large = _job(pod, anna, big)
        queued[large.id] = time.time()
        queue.enqueue(large)
        time.sleep(1.0)  # the large import is under way
        small = []
        for _ in range(args.small):
            job = _job(pod, bo, SMALL)
            queued[job.id] = time.time()
            queue.enqueue(job)
            small.append(job)
        queue.close()
        while _done_at(pod, large) is None:
            time.sleep(0.2)
        waits = [(_done_at(pod, j) or time.time()) - queued[j.id] for j in small]
        large_s = (_done_at(pod, large) or 0) - queued[large.id]
        small_size = SMALL.stat().st_size / 1e3
        layout = "worker --concurrency 2" + (" + worker --queue small" if args.small_worker else "")
        print(f"workers: {layout}; one small import alone: queued to done {alone_s:.2f} s")
        print(
            f"large import: {args.records:,} records, {big.stat().st_size / 1e6:.1f} MB, "
            f"queued to done {large_s:.1f} s"
        )
        print(
            f"small imports: {len(small)} x {small_size:.0f} kB, queued to done "
            f"p50 {statistics.median(waits):.2f} s, max {max(waits):.2f} s "
            f"(all done while the large one ran: {max(waits) + 1.0 < large_s})"
        )
        pod.close()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        shutil.rmtree(work, ignore_errors=True)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
