"""`healthpod import` and `healthpod imports` as a person uses them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
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


def test_history_of_one_person_leaves_out_the_others(settings):
    run(settings, "import", "--person", "anna", str(APPLE / "ahcd-go" / "export.xml"))
    run(settings, "import", "--person", "bo", str(APPLE / "healthkit-to-sqlite" / "export.xml"))
    history = json.loads(run(settings, "imports", "--person", "bo", "--json").stdout)["imports"]
    assert [(h["person"], h["status"]) for h in history] == [("bo", "completed")]
    assert history[0]["added"] and history[0]["sha256"]
    nobody = json.loads(run(settings, "imports", "--person", "cy", "--json").stdout)
    assert nobody == {"imports": []}
    table = run(settings, "import", str(APPLE / "handmade" / "export.xml"))
    assert "HKQuantityTypeIdentifierFutureMeasurement" in table.stdout
    assert "unknown type" in table.stdout


FITBIT = Path(__file__).parents[1] / "data" / "fitbit"


def folder_with_strays(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(APPLE / "healthkit-to-sqlite" / "export.xml", folder / "export.xml")
    (folder / "notes.txt").write_text("shopping list")
    (folder / "nested" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return folder


def test_a_folder_import_skips_stray_files_with_one_summary_line(settings, tmp_path):
    result = run(settings, "import", str(folder_with_strays(tmp_path)))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "Skipped 2 files in no format healthpod reads: photo.png, notes.txt. "
        "(`healthpod import -h` lists the formats.)"
    ]
    assert "Fitbit/Google exports" not in result.stderr  # the long hint is not repeated
    assert "export.xml (apple-health)" in result.stdout
    document = json.loads(run(settings, "imports", "--json").stdout)
    assert [(i["filename"], i["status"]) for i in document["imports"]] == [
        ("export.xml", "completed")
    ]


def test_a_folder_import_as_json_says_which_files_were_skipped(settings, tmp_path):
    result = run(settings, "import", str(folder_with_strays(tmp_path)), "--json")
    assert result.exit_code == 0, result.stderr
    statuses = {r["filename"]: r["status"] for r in json.loads(result.stdout)["imports"]}
    assert statuses == {"export.xml": "completed", "notes.txt": "skipped", "photo.png": "skipped"}


def test_a_folder_with_no_health_data_is_an_error(settings, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "b.txt").write_text("b")
    result = run(settings, "import", str(folder))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Nothing imported: none of the 2 files is in a format healthpod reads "
        "(a.txt, b.txt)."
    )
    assert result.stderr.count("healthpod reads:") == 1


def test_a_zip_of_fitbit_files_imports_its_members(settings, tmp_path):
    archive = tmp_path / "fitbit.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(FITBIT.glob("*.json")):
            zf.write(path, path.name)
        zf.writestr("README.txt", "not health data")
    result = run(settings, "import", str(archive), "--json")
    assert result.exit_code == 0, result.stderr
    statuses = [(r["filename"], r["status"]) for r in json.loads(result.stdout)["imports"]]
    assert ("fitbit.zip:README.txt", "skipped") in statuses
    assert ("fitbit.zip:sleep.json", "completed") in statuses
    assert [s for _, s in statuses].count("completed") == len(list(FITBIT.glob("*.json")))


def test_every_import_shows_progress_on_a_terminal(settings, tmp_path):
    """Rich draws the bars when stderr is a terminal (TTY_COMPATIBLE stands in for one)."""
    archive = tmp_path / "fitbit.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(FITBIT / "sleep.json", "sleep.json")
    folder = folder_with_strays(tmp_path)
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    for target, names in {
        APPLE / "ahcd-go" / "export.xml": ["Importing export.xml"],
        folder: ["Importing export.xml"],
        archive: ["Importing fitbit.zip:sleep.json"],
        APPLE / "apple-health-parser" / "export.zip": ["Importing export.zip"],
    }.items():
        result = subprocess.run(
            [sys.executable, "-m", "healthpod", *base, "import", str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "120"},
        )
        assert result.returncode == 0, result.stderr
        for name in names:
            assert name in result.stderr, (target, result.stderr[:500])
