"""`healthpod import` with FHIR files: what a person sees for good, invalid and hostile files."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from healthpod.cli import cli

FHIR = Path(__file__).parents[1] / "data" / "fhir"


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def test_cli_imports_an_ips_document_and_reports_per_type(tmp_path):
    assert run(tmp_path, "init").exit_code == 0
    result = run(tmp_path, "import", str(FHIR / "ips" / "Bundle-bundle-minimal.json"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["format"] == "fhir"
    assert report["added"]["Patient"] == 1


def test_cli_skips_an_invalid_resource_and_says_where(tmp_path):
    document = json.loads((FHIR / "ips" / "Bundle-bundle-minimal.json").read_text())
    document["entry"][3]["resource"]["id"] = "not an id!"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    run(tmp_path, "init")
    result = run(tmp_path, "import", str(broken))
    assert result.exit_code == 0
    assert "Warning: broken.json, entry 3: the " in result.stderr
    assert ".id: " in result.stderr
    assert "skipped" in result.stderr


def test_cli_refuses_a_hostile_file_with_exit_1_and_no_traceback(tmp_path):
    hostile = tmp_path / "deep.json"
    hostile.write_bytes(b'{"resourceType":"Basic","x":' + b"[" * 10_000 + b"]" * 10_000 + b"}")
    run(tmp_path, "init")
    result = run(tmp_path, "import", str(hostile))
    assert result.exit_code == 1
    assert "deep.json: the JSON is nested more than 100 levels deep" in result.stderr
    assert "Traceback" not in result.output
