"""Apple Health import speed and memory: healthpod against healthkit-to-sqlite, same files.

    python bench/import_apple.py                  # 100 000 and 1 000 000 records
    python bench/import_apple.py --sizes 100000   # just one size

Exports come from the team's generator (../shared/tools/gen_apple_export.py, as export.zip);
each is imported into a fresh SQLite pod with `healthpod import` (the real command, zip in,
indexed and de-duplicating SQLite out), then by healthkit-to-sqlite from PyPI, installed in
its own virtual environment under bench/out/. Wall time, CPU time and peak RSS come from
GNU time (`/usr/bin/time`); CPU time adds up both of healthpod's processes (the reader's
too), RSS is the largest single one (the writer's; the reader stays under 100 MB). The
machine is shared: compare figures of one run, CPU seconds more than wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
GENERATOR = HERE.parents[1] / "shared" / "tools" / "gen_apple_export.py"
HEALTHPOD = Path(sys.executable).with_name("healthpod")
TIME = Path("/usr/bin/time")


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
    """Run `command` under GNU time; wall and CPU seconds, peak RSS in MB."""
    result = subprocess.run(
        [str(TIME), "-f", "BENCH %e %U %S %M", *command],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    line = next(x for x in result.stderr.splitlines() if x.startswith("BENCH "))
    wall, user, system, rss_kb = (float(x) for x in line.split()[1:])
    return {"wall": wall, "cpu": user + system, "rss_mb": rss_kb / 1024}


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


def run_healthpod(export: Path, records: int) -> dict[str, float]:
    home = OUT / f"pod-{records}"
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([str(HEALTHPOD), "--home", str(home), "init"], check=True, capture_output=True)
    env = {**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"}
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip-other", action="store_true", help="only time healthpod")
    args = parser.parse_args()
    if not GENERATOR.exists():
        print(f"skipped: the export generator is not at {GENERATOR}")
        return
    if not TIME.exists():
        print("skipped: GNU time (/usr/bin/time) is needed to measure peak memory")
        return
    OUT.mkdir(exist_ok=True)
    other = None if args.skip_other else healthkit_to_sqlite()
    print(
        f"{'records':>10} {'tool':<20} {'wall s':>7} {'cpu s':>7} {'records/s':>10} {'peak MB':>8}"
    )
    for records in args.sizes:
        export = generate(records)
        ours = run_healthpod(export, records)
        print(
            f"{records:>10,} {'healthpod':<20} {ours['wall']:>7.1f} {ours['cpu']:>7.1f} "
            f"{records / ours['wall']:>10,.0f} {ours['rss_mb']:>8.0f}",
            flush=True,
        )
        lib = run_library(export, records)
        print(
            f"{records:>10,} {'healthpod (library)':<20} {lib['wall']:>7.1f} {lib['cpu']:>7.1f} "
            f"{records / lib['wall']:>10,.0f} {lib['rss_mb']:>8.0f}",
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
