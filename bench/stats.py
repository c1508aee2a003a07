"""Measure statistics and insights on a pod with 5 years of data, and DuckDB on the same rows.

    .venv/bin/python bench/stats.py [--records 5000000] [--years 5] [--workdir DIR]

Generates an Apple Health export with bench/gen_apple_export.py (kept in the work
folder and reused), imports it with the real importer into a fresh SQLite pod, then times:

1. building the daily summary table (what an import adds at its end, once),
2. daily statistics of one type over all years (steps: de-duplicated; heart rate: min/max/mean),
   read through `bucket_stats` as the CLI, API and web do,
3. the same daily steps computed from the samples without the summary table,
4. the full insights run (every finding rule),
5. DuckDB doing the same de-duplicated daily aggregation over the same step rows (loaded
   beforehand; load time not counted), and the ratio to ours. DuckDB's daily totals are
   checked against ours.

Targets (issue #5): daily statistics for 5 years under 300 ms, full insights under 2 s, within
3x of DuckDB. Timings are medians of several runs; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import func, select, text

from healthpod.config import Settings
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.insights import report as insights_report
from healthpod.insights import summaries
from healthpod.insights.measures import find_measure
from healthpod.insights.sources import ranked_source_ids
from healthpod.insights.stats import bucket_stats
from healthpod.pod import Pod
from healthpod.store import migrate, schema
from healthpod.store.engine import make_engine
from healthpod.store.person_data import for_owner, owner_writer

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "bench" / "gen_apple_export.py"
DAY_MS = 86_400_000


CPU: dict[str, float] = {}  # label -> median CPU ms of this process (all threads)


def timed(fn: Callable[[], Any], runs: int = 5, label: str = "") -> tuple[float, Any]:
    """Median wall time in ms over `runs`, and the last result (CPU time kept in CPU)."""
    times, cpu, result = [], [], None
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    if label:
        CPU[label] = statistics.median(cpu)
    return statistics.median(times), result


def export_file(workdir: Path, records: int, years: float) -> Path:
    path = workdir / f"export-{records}-{years:g}y.zip"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        partial = path.with_suffix(".partial.zip")
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--records",
                str(records),
                "--years",
                str(years),
                "--out",
                str(partial),
            ],
            check=True,
        )
        partial.rename(path)
    return path


def duckdb_daily_steps(rows_csv: Path, ranks: int) -> tuple[float, dict[int, float]]:
    """DuckDB's de-duplicated daily steps over the same rows: the same sweep, as SQL windows."""
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE samples AS SELECT * FROM read_csv('{rows_csv}', header=true, "
        "columns={'start_ms': 'BIGINT', 'end_ms': 'BIGINT', 'start_offset_min': 'INTEGER', "
        "'rk': 'INTEGER', 'value': 'DOUBLE'})"
    )
    running = ", ".join(
        f"sum(CASE WHEN rk = {i} THEN dc ELSE 0 END) OVER w AS c{i}, "
        f"sum(CASE WHEN rk = {i} THEN dr ELSE 0 END) OVER w AS r{i}"
        for i in range(ranks)
    )
    winner_rate = " ".join(f"WHEN c{i} > 0 THEN r{i}" for i in range(ranks))
    sql = f"""
        WITH r AS (
            SELECT start_ms AS s0, greatest(end_ms, start_ms + 1) AS s1,
                   start_offset_min * 60000 AS off, rk,
                   value / (greatest(end_ms, start_ms + 1) - start_ms) AS rate
            FROM samples
        ),
        p AS (
            SELECT b, rk, rate, greatest(s0, b * {DAY_MS} - off) AS p0,
                   least(s1, (b + 1) * {DAY_MS} - off) AS p1
            FROM (SELECT *, unnest(range((s0 + off) // {DAY_MS},
                                         (s1 - 1 + off) // {DAY_MS} + 1)) AS b FROM r)
        ),
        ev AS (
            SELECT b, p0 AS t, rk, 1 AS dc, rate AS dr FROM p
            UNION ALL
            SELECT b, p1 AS t, rk, -1 AS dc, -rate AS dr FROM p
        ),
        s AS (
            SELECT b, lead(t) OVER w - t AS len, {running}
            FROM ev WINDOW w AS (PARTITION BY b ORDER BY t ROWS UNBOUNDED PRECEDING)
        )
        SELECT b, sum(len * CASE {winner_rate} END) FROM s GROUP BY b ORDER BY b
    """
    ms, rows = timed(lambda: con.execute(sql).fetchall(), runs=3, label="duckdb")
    con.close()
    return ms, {int(b): float(v or 0.0) for b, v in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5_000_000)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("SCRATCH", tempfile.gettempdir()))
    )
    parser.add_argument(
        "--pod", type=Path, help="Reuse the pod a previous run left in this folder (no import)."
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    home = args.pod or Path(tempfile.mkdtemp(dir=args.workdir, prefix="bench-stats-"))
    url = f"sqlite:///{home / 'healthpod.db'}"
    if args.pod is None:
        export = export_file(args.workdir, args.records, args.years)
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
    pod = Pod.open(Settings(home=home, database_url=url))
    if args.pod is None:
        started = time.perf_counter()
        imported = import_file(pod, export, errors=ErrorHandling.WARN)
        print(
            f"import (the real importer): {time.perf_counter() - started:.1f} s, "
            f"import id {imported.import_id}"
        )
    person = pod.person_id()
    with pod.engine.connect() as conn:
        quantity = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
        category = conn.scalar(select(func.count()).select_from(schema.category_samples))
        types = conn.scalar(select(func.count()).select_from(schema.sample_types))
    print(f"pod: {quantity + category:,} samples of {types} types ({args.years:g} years)")

    started = time.perf_counter()
    with pod.engine.begin() as conn:
        if args.pod is not None:
            conn.execute(schema.summarized_imports.delete())  # rebuild, to time it again
        summaries.catch_up(owner_writer(conn, person))
    print(f"daily summary table built once after import: {time.perf_counter() - started:.2f} s")

    with for_owner(pod.engine, pod.reads, person).writer() as write:
        conn = write.conn
        steps_ms, steps = timed(lambda: bucket_stats(write, "steps", "day"), label="steps")
        hr_ms, hr = timed(lambda: bucket_stats(write, "heart_rate", "day"))
        week_ms, _ = timed(lambda: bucket_stats(write, "steps", "week"))
        measure = find_measure(write, "steps")
        ranked = ranked_source_ids(write)
        lo, hi = conn.execute(
            text(
                "SELECT MIN(start_ms), MAX(end_ms) FROM quantity_samples "
                "WHERE person_id = :p AND type_id = :t"
            ),
            {"p": person, "t": measure.type_id},
        ).one()
        cold_ms, cold = timed(
            lambda: summaries.compute_days(
                write, measure, lo // DAY_MS - 1, hi // DAY_MS + 2, ranked
            ),
            runs=3,
            label="cold",
        )
        insights_ms, built = timed(lambda: insights_report.build(write), runs=3)
        rows = conn.execute(
            text(
                "SELECT start_ms, end_ms, start_offset_min, source_id, value "
                "FROM quantity_samples WHERE person_id = :p AND type_id = :t"
            ),
            {"p": person, "t": measure.type_id},
        ).all()
    rank = {sid: i for i, sid in enumerate(ranked)}
    rows_csv = home / "steps.csv"
    with rows_csv.open("w", newline="") as fp:
        out = csv.writer(fp)
        out.writerow(["start_ms", "end_ms", "start_offset_min", "rk", "value"])
        out.writerows((s, e, o, rank[sid], v) for s, e, o, sid, v in rows)
    used_ranks = len({rank[r[3]] for r in rows})
    duck_ms, duck = duckdb_daily_steps(rows_csv, max(rank[r[3]] for r in rows) + 1)
    ours = {r.bucket: r.total or 0.0 for r in cold}
    worst = max(abs(ours.get(b, 0.0) - v) for b, v in duck.items())

    print(f"daily steps over {len(steps.buckets)} days (from the summary table): {steps_ms:.1f} ms")
    print(f"daily heart rate over {len(hr.buckets)} days (min/max/mean): {hr_ms:.1f} ms")
    print(f"weekly steps: {week_ms:.1f} ms")
    print(
        f"daily steps computed from {len(rows):,} samples of {used_ranks} sources "
        f"(no summary table): {cold_ms:.0f} ms"
    )
    print(
        f"full insights ({len(built.findings)} findings, {len(built.types)} types with "
        f"baselines and trends): {insights_ms:.0f} ms"
    )
    print(f"DuckDB, same de-duplicated daily steps over the same rows: {duck_ms:.0f} ms")
    print(f"  largest daily difference DuckDB vs ours: {worst:.6f} steps")
    print(f"  ratio ours/DuckDB, reading daily stats: {steps_ms / duck_ms:.3f}")
    print(f"  ratio ours/DuckDB, computing from samples: {cold_ms / duck_ms:.2f}")
    print(
        f"CPU time (this process, all threads): daily steps {CPU['steps']:.0f} ms, "
        f"from samples {CPU['cold']:.0f} ms, DuckDB {CPU['duckdb']:.0f} ms "
        f"(ratio from samples {CPU['cold'] / CPU['duckdb']:.2f}); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    pod.close()


if __name__ == "__main__":
    main()
