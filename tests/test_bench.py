"""`make bench` runs from a clean clone: nothing it needs lives outside the repository."""

from __future__ import annotations

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
