"""A pod's way out and back in: `healthpod export` and the re-import of its zip, against the
Apple import of the same data, in the same run and on the same engine.

    python bench/export_roundtrip.py                              # 100 000 records, SQLite
    python bench/export_roundtrip.py --records 1000000
    python bench/export_roundtrip.py --pg postgresql://user@host/postgres

Each step is the real command in its own process (`healthpod import export.zip`, then
`healthpod export out.zip`, then `healthpod import out.zip` into an empty pod); wall and CPU
seconds and peak RSS come from the kernel's accounting (see import_apple.measured). The
target (issue "Your data can leave and come back"): export and re-import each within 2x the
Apple import. The machine is shared: compare the figures of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import import_apple
from bench_support import fresh_database

HEALTHPOD = import_apple.HEALTHPOD


def _pod(home: Path, url: str) -> list[str]:
    shutil.rmtree(home, ignore_errors=True)
    command = [str(HEALTHPOD), "--home", str(home), "--database-url", url]
    subprocess.run([*command, "init"], check=True, capture_output=True)
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--pg", help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--out", type=Path, default=import_apple.OUT, help="work folder")
    args = parser.parse_args()
    import_apple.OUT = args.out
    args.out.mkdir(parents=True, exist_ok=True)
    export = import_apple.generate(args.records)
    env = {**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"}
    zipped = args.out / f"roundtrip-{args.records}.zip"
    zipped.unlink(missing_ok=True)
    with (
        fresh_database(args.pg, args.out / "rt-a", prefix="bench_rt_a") as first_url,
        fresh_database(args.pg, args.out / "rt-b", prefix="bench_rt_b") as second_url,
    ):
        first = _pod(args.out / "rt-a", first_url)
        second = _pod(args.out / "rt-b", second_url)
        steps = {
            "apple import": import_apple.measured([*first, "import", str(export)], env=env),
            "export": import_apple.measured([*first, "export", str(zipped)], env=env),
            "re-import": import_apple.measured([*second, "import", str(zipped)], env=env),
        }
    base = steps["apple import"]["wall"]
    engine = "PostgreSQL" if args.pg else "SQLite"
    print(f"{args.records:,} records, {engine}; export zip {zipped.stat().st_size / 1e6:.0f} MB")
    print(f"{'step':<14} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} {'x apple':>8}")
    for step, figures in steps.items():
        print(
            f"{step:<14} {figures['wall']:>7.1f} {figures['cpu']:>7.1f} "
            f"{figures['rss_mb']:>8.0f} {figures['wall'] / base:>8.2f}",
            flush=True,
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores; compare within a run)")


if __name__ == "__main__":
    main()
