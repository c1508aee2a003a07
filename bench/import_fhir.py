"""Measure FHIR import throughput: resources per second for Synthea bundles and Bulk NDJSON.

    .venv/bin/python bench/import_fhir.py [DATA_DIR] [--database-url URL]

DATA_DIR defaults to ../shared/data next to the repository (the Synthea bundles under
smart-generated-sample-data/R4/SYNTHEA, the NDJSON of sample-bulk-fhir-datasets-10-patients).
Each set is imported into a fresh pod: a SQLite file in a temporary folder, or, with a
PostgreSQL server URL, a new database on it that is dropped afterwards. The time covers
parsing, validation, reference rewriting and storing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_support import fresh_database
from sqlalchemy import func, select

from healthpod.config import Settings
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import migrate, schema
from healthpod.store.engine import make_engine

REPO = Path(__file__).resolve().parents[1]


def run(label: str, files: list[Path], server_url: str | None) -> None:
    with (
        tempfile.TemporaryDirectory() as home,
        fresh_database(server_url, Path(home), prefix="bench_fhir") as url,
    ):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        pod = Pod.open(Settings(home=Path(home), database_url=url))
        size = sum(f.stat().st_size for f in files)
        started = time.perf_counter()
        for path in files:
            import_file(pod, path, errors=ErrorHandling.WARN)
        elapsed = time.perf_counter() - started
        with pod.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(schema.resources)) or 0
            samples = conn.scalar(select(func.count()).select_from(schema.quantity_samples)) or 0
        pod.close()
    engine_name = "SQLite" if server_url is None else "PostgreSQL"
    print(
        f"{engine_name}, {label}: {len(files)} files, {size / 1e6:.1f} MB, {stored} resources "
        f"(+{samples} samples) in {elapsed:.2f} s = {stored / elapsed:,.0f} resources/s, "
        f"{size / 1e6 / elapsed:.1f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    synthea = sorted((args.data / "smart-generated-sample-data" / "R4" / "SYNTHEA").glob("*.json"))
    bulk = sorted((args.data / "sample-bulk-fhir-datasets-10-patients").glob("[A-Z]*.ndjson"))
    if not synthea and not bulk:
        raise SystemExit(f"no Synthea bundles or Bulk NDJSON under {args.data}")
    run("Synthea transaction bundles", synthea, args.database_url)
    run("Bulk Data NDJSON", bulk, args.database_url)


if __name__ == "__main__":
    main()
