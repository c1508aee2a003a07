"""Health Connect import speed against the Apple import of as many records, on the same run.

    python bench/import_android.py                  # 1 000 000 records
    python bench/import_android.py --records 200000

The Health Connect database is generated with the tests' builder (the schema Android's Health
Connect service writes): a mix like a phone and a watch write it, 40% steps records (a minute
each), 50% heart-rate points (series of 60), 5% distance and 5% active energy records, from
two apps over about four years. The Apple export of the same number of records comes from the
team's generator, as for bench/import_apple.py. Both are imported into a fresh SQLite pod as a
library call, under GNU time; the target is Health Connect within 1.5 times Apple's wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import import_apple
from import_apple import GENERATOR, HEALTHPOD, OUT, generate, measured

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ingest.android.hc_builder import HealthConnectBuilder

MINUTE = 60_000
START = 1_577_836_800_000  # 2020-01-01 UTC
OFFSET_S = 3600
LIBRARY_CALL = (
    "import sys; from pathlib import Path; from healthpod.config import Settings; "
    "from healthpod.pod import Pod; from healthpod.ingest.run import import_file; "
    "import_file(Pod.open(Settings(home=Path(sys.argv[1]))), Path(sys.argv[2]))"
)


def health_connect_export(records: int) -> Path:
    """A health_connect_export.zip of `records` samples (cached in bench/out)."""
    path = OUT / f"health_connect_export-{records}.zip"
    if path.exists():
        return path
    print(f"generating a Health Connect database of {records:,} records …", flush=True)
    db = OUT / f"health_connect_export-{records}.db"
    db.unlink(missing_ok=True)
    b = HealthConnectBuilder(db)
    phone = b.app("com.google.android.apps.fitness", "Fit")
    watch = b.app("com.sec.android.app.shealth", "Samsung Health")
    steps, beats = records * 40 // 100, records * 50 // 100
    others = (records - steps - beats) // 2
    distance_records, energy_records = others, records - steps - beats - others
    b.bulk_steps(phone, [START + i * 3 * MINUTE for i in range(steps)], OFFSET_S, 80)
    series = beats // 60
    parents = [START + i * 61 * MINUTE for i in range(series + 1)]
    b.conn.executemany(
        "INSERT INTO heart_rate_record_table (uuid, app_info_id, start_time, start_zone_offset, "
        "end_time, end_zone_offset) VALUES (?, ?, ?, ?, ?, ?)",
        ((uuid.uuid4().bytes, watch, t, OFFSET_S, t + 60 * MINUTE, OFFSET_S) for t in parents),
    )
    b.conn.executemany(
        "INSERT INTO heart_rate_record_series_table (parent_key, beats_per_minute, epoch_millis) "
        "VALUES (?, ?, ?)",
        ((n // 60 + 1, 55 + n % 40, parents[n // 60] + (n % 60) * MINUTE) for n in range(beats)),
    )
    for table, column, count, value in (
        ("distance_record_table", "distance", distance_records, 250.0),
        ("active_calories_burned_record_table", "energy", energy_records, 12_000.0),
    ):
        b.conn.executemany(
            f"INSERT INTO {table} (uuid, app_info_id, start_time, start_zone_offset, "
            f"end_time, end_zone_offset, {column}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (uuid.uuid4().bytes, watch, t, OFFSET_S, t + 10 * MINUTE, OFFSET_S, value)
                for t in (START + i * 30 * MINUTE for i in range(count))
            ),
        )
    b.close()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(db, "health_connect_export.db")
    db.unlink()
    return path


def run_import(export: Path, name: str) -> dict[str, float]:
    home = OUT / f"pod-{name}"
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([str(HEALTHPOD), "--home", str(home), "init"], check=True, capture_output=True)
    return measured([sys.executable, "-c", LIBRARY_CALL, str(home), str(export)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--generator", type=Path, default=GENERATOR, help="gen_apple_export.py")
    args = parser.parse_args()
    if not args.generator.exists():
        print(f"skipped: the Apple export generator is not at {args.generator}")
        return
    import_apple.GENERATOR = args.generator
    OUT.mkdir(exist_ok=True)
    records = args.records
    android = health_connect_export(records)
    apple = generate(records)
    print(
        f"{'records':>10} {'export':<16} {'wall s':>7} {'cpu s':>7} "
        f"{'records/s':>10} {'peak MB':>8}"
    )
    results = {}
    for name, export in (("apple", apple), ("health-connect", android)):
        result = results[name] = run_import(export, f"{name}-{records}")
        print(
            f"{records:>10,} {name:<16} {result['wall']:>7.1f} {result['cpu']:>7.1f} "
            f"{records / result['wall']:>10,.0f} {result['rss_mb']:>8.0f}",
            flush=True,
        )
    ratio = results["health-connect"]["wall"] / results["apple"]["wall"]
    verdict = "within" if ratio <= 1.5 else "NOT within"
    print(f"Health Connect / Apple wall time: {ratio:.2f} ({verdict} the 1.5 target)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores; compare within a run)")


if __name__ == "__main__":
    main()
