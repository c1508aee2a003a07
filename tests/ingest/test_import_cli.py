"""`healthpod import` and `healthpod imports` as a person uses them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from healthpod.cli import cli

APPLE = Path(__file__).parents[1] / "data" / "apple"


def run(settings, *args: str):
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_import_json_is_one_document_with_the_issue_shape(settings):
    result = run(settings, "import", str(APPLE / "ahcd-go" / "export.xml"), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"import_id", "format", "status", "added", "already_present", "unknown_types"} <= set(
        report
    )
    assert report["format"] == "apple-health"
    assert report["added"]["blood_pressure_systolic"] == 7

    again = json.loads(
        run(settings, "import", str(APPLE / "ahcd-go" / "export.xml"), "--json").stdout
    )
    assert again["added"] == {}
    assert again["already_present"] == sum(report["added"].values())


def test_several_files_give_a_list_and_a_failure_gives_exit_1(settings, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("shopping list")
    result = run(
        settings, "import", str(APPLE / "healthkit-to-sqlite" / "export.xml"), str(bad), "--json"
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [r["status"] for r in document["imports"]] == ["completed", "failed"]
    assert "notes.txt: healthpod cannot import this file" in result.stderr


def test_person_option_and_history(settings):
    run(settings, "import", "--person", "anna", str(APPLE / "apple-health-parser" / "export.zip"))
    history = json.loads(run(settings, "imports", "--json").stdout)["imports"]
    assert [(h["person"], h["filename"], h["status"]) for h in history] == [
        ("anna", "export.zip", "completed")
    ]
    assert history[0]["started"].endswith("Z")
    table = run(settings, "import", str(APPLE / "handmade" / "export.xml"))
    assert "HKQuantityTypeIdentifierFutureMeasurement" in table.stdout
    assert "unknown type" in table.stdout
