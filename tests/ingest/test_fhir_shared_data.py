"""Every Synthea bundle and Bulk NDJSON file of the shared data set, when it is beside the repo.

The small copies in tests/data/fhir cover the behaviour, re-import included, on both engines;
this checks the whole real set (≈6 600 resources) end to end on PostgreSQL, the stricter of
the two: stored counts per type equal a count made with json.load.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.store import schema

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SYNTHEA = SHARED / "smart-generated-sample-data" / "R4" / "SYNTHEA"
BULK = SHARED / "sample-bulk-fhir-datasets-10-patients"


def files() -> list[Path]:
    return sorted(SYNTHEA.glob("*.json")) + sorted(BULK.glob("[A-Z]*.ndjson"))


def unique_count(paths: list[Path]) -> Counter[str]:
    """Per type, resources counted once per id (Synthea repeats Organizations across files)."""
    seen: set[tuple[str, str]] = set()
    for path in paths:
        if path.suffix == ".ndjson":
            resources = [json.loads(line) for line in path.open() if line.strip()]
        else:
            resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
        for resource in resources:
            seen.add((resource["resourceType"], resource["id"]))
    return Counter(t for t, _ in seen)


def stored_count(pod) -> Counter[str]:
    r = schema.resources
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(select(r.c.resource_type, func.count()).group_by(r.c.resource_type))
        return Counter(dict(rows.all()))


@pytest.mark.slow
@pytest.mark.skipif(not files(), reason="../shared/data is not beside the repository")
def test_all_synthea_bundles_and_bulk_ndjson(pod):
    if pod.engine.dialect.name != "postgresql":
        pytest.skip("run on PostgreSQL only, to keep the suite quick")
    paths = files()
    expected = unique_count(paths)
    assert expected.total() > 6000
    added: Counter[str] = Counter()
    for path in paths:
        report = import_file(pod, path, errors=ErrorHandling.RAISE)
        added.update({k: v for k, v in report.added.items() if k[:1].isupper()})
    assert stored_count(pod) == expected
    assert added == expected
