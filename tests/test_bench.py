"""`make bench` runs from a clean clone: nothing it needs lives outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_bench_scripts_need_nothing_outside_the_repository():
    makefile = (ROOT / "Makefile").read_text()
    (recipe,) = re.findall(r"^bench:.*\n\t(.+)$", makefile, re.M)
    assert recipe.endswith("bench/import_apple.py"), recipe
    text = (ROOT / "bench" / "import_apple.py").read_text()
    assert '"shared"' not in text  # the generator was once taken from ../shared/tools
    assert "/usr/bin/time" not in text  # nor is GNU time needed
    assert (ROOT / "bench" / "gen_apple_export.py").exists()


@pytest.mark.slow
def test_the_apple_import_bench_runs_and_prints_its_figures(tmp_path):
    options = ["--sizes", "2000", "--skip-other", "--out", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "import_apple.py"), *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" not in result.stdout
    (ours,) = [line.split() for line in result.stdout.splitlines() if " healthpod  " in line]
    records, _tool, wall, cpu, _rate, peak_mb = ours
    assert records == "2,000"
    assert float(wall) > 0 and float(cpu) > 0 and 20 < float(peak_mb) < 2000


@pytest.mark.slow
def test_the_apple_import_bench_compares_postgresql_with_sqlite(tmp_path):
    server = os.environ.get("HEALTHPOD_TEST_PG_URL")
    if server is None:
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    options = ["--sizes", "2000", "--skip-other", "--skip-library", "--out", str(tmp_path)]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "import_apple.py"),
            *options,
            "--database-url",
            server,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"healthpod PostgreSQL .* ratio PostgreSQL/SQLite \d+\.\d\dx", result.stdout)


@pytest.mark.slow
def test_the_region_bench_runs_without_errors(tmp_path):
    server = os.environ.get("HEALTHPOD_TEST_PG_URL")
    if server is None:
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    tiny = ["--persons", "2", "--days", "2", "--citizens", "2", "--actors", "1", "--seconds", "4"]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "region.py"),
            "--database-url",
            server,
            *tiny,
            "--serve-workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = re.findall(r"requests/s, (\d+) errors", result.stdout)
    assert runs == ["0", "0"], result.stdout  # PostgreSQL, then one person on SQLite
    for kind in ("overview", "chart", "fhir"):
        assert re.search(rf"^\s+{kind}\s+\d", result.stdout, re.M), result.stdout
    assert "MB per person" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_research_bench_runs_and_prints_its_figures(engine):
    options = ["--participants", "120", "--days", "3", "--runs", "2", "--export"]
    if engine == "postgresql":
        server = os.environ.get("HEALTHPOD_TEST_PG_URL")
        if server is None:
            pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
        options += ["--database-url", server]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "research.py"), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"one mean over 120 participants: p50 \d+\.\d+ s", result.stdout)
    assert "daily rows read per release: 360; log entries written per release: 240" in (
        result.stdout
    )
    assert "chains of 20 sampled participants verify: True" in result.stdout
    # The Group export: every participant's three days, a decision and a returned entry each.
    assert re.search(
        r"pseudonymised export of 120 participants: \d+\.\d+ s .*, 360 records, .*"
        r"log entries written: 240",
        result.stdout,
    ), result.stdout
