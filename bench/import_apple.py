"""Apple Health import speed and memory: healthpod against healthkit-to-sqlite, same files.

    python bench/import_apple.py                  # 100 000 and 1 000 000 records
    python bench/import_apple.py --sizes 100000   # just one size
    python bench/import_apple.py --database-url postgresql://user@host/postgres --skip-other

Exports come from the team's generator, kept beside this script (gen_apple_export.py, as
export.zip); each is imported into a fresh SQLite pod with `healthpod import` (the real command,
zip in, indexed and de-duplicating SQLite out), then by healthkit-to-sqlite from PyPI, installed
in its own virtual environment under bench/out/. Wall time, CPU time and peak RSS come from the
kernel's accounting of the finished process (`os.wait4`, as GNU time reads it); CPU time adds up
both of healthpod's processes (the reader's too), RSS is the largest single one (the writer's;
the reader stays under 100 MB). The machine is shared: compare figures of one run, CPU seconds
more than wall time.

With `--database-url` (a PostgreSQL server; each run gets a new database on it, dropped after),
the same export is imported into PostgreSQL too, by the same command, and the ratio of its wall
time to SQLite's is printed. The CPU and RSS columns are healthpod's processes only: the
server's own work shows in the wall time alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

from bench_support import fresh_database

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
GENERATOR = HERE / "gen_apple_export.py"
HEALTHPOD = Path(sys.executable).with_name("healthpod")


def generate(records: int) -> Path:
    """An export.zip with `records` top-level records (cached in bench/out)."""
    path = OUT / f"export-{records}.zip"
    if not path.exists():
        print(f"generating {records:,} records …", flush=True)
        subprocess.run(
            [sys.executable, str(GENERATOR), "--records", str(records), "--out", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def measured(command: list[str], **kwargs: object) -> dict[str, float]:
    """Run `command`; wall and CPU seconds (its own and its children's), peak RSS in MB."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )
    assert process.stderr is not None
    errors = process.stderr.read()  # the child's stderr may be long: read it before waiting
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{errors[-2000:].decode(errors='replace')}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }


def healthkit_to_sqlite() -> Path:
    """healthkit-to-sqlite from PyPI in its own environment (made once)."""
    env = OUT / "healthkit-to-sqlite-venv"
    tool = env / "bin" / "healthkit-to-sqlite"
    if not tool.exists():
        print("installing healthkit-to-sqlite from PyPI …", flush=True)
        venv.create(env, with_pip=True)
        subprocess.run(
            [str(env / "bin" / "pip"), "install", "--quiet", "healthkit-to-sqlite"], check=True
        )
    return tool


def run_healthpod(export: Path, records: int, database_url: str | None = None) -> dict[str, float]:
    home = OUT / f"pod-{records}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"}
    if database_url is not None:
        env["HEALTHPOD_DATABASE_URL"] = database_url
    subprocess.run(
        [str(HEALTHPOD), "--home", str(home), "init"], check=True, capture_output=True, env=env
    )
    return measured([str(HEALTHPOD), "--home", str(home), "import", str(export), "--json"], env=env)


LIBRARY_CALL = (
    "import sys; from pathlib import Path; from healthpod.config import Settings; "
    "from healthpod.pod import Pod; from healthpod.ingest.run import import_file; "
    "import_file(Pod.open(Settings(home=Path(sys.argv[1]))), Path(sys.argv[2]))"
)


def run_library(export: Path, records: int) -> dict[str, float]:
    """The same import as a library call: without the CLI's start-up (it loads every command)."""
    home = OUT / f"pod-lib-{records}"
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([str(HEALTHPOD), "--home", str(home), "init"], check=True, capture_output=True)
    return measured([sys.executable, "-c", LIBRARY_CALL, str(home), str(export)])


def run_other(tool: Path, export: Path, records: int) -> dict[str, float]:
    database = OUT / f"healthkit-to-sqlite-{records}.db"
    database.unlink(missing_ok=True)
    return measured([str(tool), str(export), str(database)])


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip-other", action="store_true", help="only time healthpod")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="SQLite then PostgreSQL this many times (the machine may be busy: take the median)",
    )
    parser.add_argument(
        "--skip-library", action="store_true", help="do not time the import as a library call"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="work folder (default bench/out)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL: import each export into a new database on it as well",
    )
    args = parser.parse_args()
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    other = None if args.skip_other else healthkit_to_sqlite()
    print(
        f"{'records':>10} {'tool':<20} {'wall s':>7} {'cpu s':>7} {'records/s':>10} {'peak MB':>8}"
    )
    for records in args.sizes:
        export = generate(records)
        ratios = []
        for _ in range(args.rounds):
            ours = run_healthpod(export, records)
            print(
                f"{records:>10,} {'healthpod':<20} {ours['wall']:>7.1f} {ours['cpu']:>7.1f} "
                f"{records / ours['wall']:>10,.0f} {ours['rss_mb']:>8.0f}",
                flush=True,
            )
            if args.database_url is None:
                continue
            with fresh_database(args.database_url, OUT, prefix="bench_apple") as url:
                pg = run_healthpod(export, records, url)
            ratios.append(pg["wall"] / ours["wall"])
            print(
                f"{records:>10,} {'healthpod PostgreSQL':<20} {pg['wall']:>7.1f} "
                f"{pg['cpu']:>7.1f} {records / pg['wall']:>10,.0f} {pg['rss_mb']:>8.0f}   "
                f"ratio PostgreSQL/SQLite {ratios[-1]:.2f}x",
                flush=True,
            )
        if len(ratios) > 1:
            print(f"{records:>10,} median ratio PostgreSQL/SQLite {statistics.median(ratios):.2f}x")
        if not args.skip_library:
            lib = run_library(export, records)
            print(
                f"{records:>10,} {'healthpod (library)':<20} {lib['wall']:>7.1f} "
                f"{lib['cpu']:>7.1f} {records / lib['wall']:>10,.0f} {lib['rss_mb']:>8.0f}",
                flush=True,
            )
        if other is not None:
            theirs = run_other(other, export, records)
            print(
                f"{records:>10,} {'healthkit-to-sqlite':<20} {theirs['wall']:>7.1f} "
                f"{theirs['cpu']:>7.1f} {records / theirs['wall']:>10,.0f} "
                f"{theirs['rss_mb']:>8.0f}   ratio {theirs['wall'] / ours['wall']:.2f}x",
                flush=True,
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores; compare within a run)")


if __name__ == "__main__":
    main()
