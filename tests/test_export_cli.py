"""`healthpod export OUT.zip`: a whole person as one zip whose manifest proves each file."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.store import schema
from healthpod.store.engine import make_engine

APPLE = Path(__file__).parent / "data" / "apple" / "handmade" / "export.xml"


def _invoker(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    def invoke(*args: str):  # type: ignore[no-untyped-def]
        base = ["--home", str(tmp_path / "home"), "--database-url", database_url]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def _manifest_matches(path: Path) -> dict:  # type: ignore[type-arg]
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "healthpod-export" and manifest["format_version"] == 1
        assert set(archive.namelist()) == {*manifest["files"], "manifest.json"}
        for name, count in manifest["files"].items():
            data = archive.read(name)
            assert hashlib.sha256(data).hexdigest() == manifest["sha256"][name], name
            if name.endswith(".ndjson"):  # (a CSV cell may hold a newline: rows, not lines)
                assert data.count(b"\n") == count, name
    return manifest  # type: ignore[no-any-return]


def test_an_empty_pod_exports_an_empty_zip_and_stays_empty(tmp_path, database_url):
    invoke = _invoker(tmp_path, database_url)
    out = tmp_path / "empty.zip"
    result = invoke("export", str(out), "--json")
    assert result.exit_code == 0, result.output
    manifest = _manifest_matches(out)
    assert manifest["files"]["csv/quantity_samples.csv"] == 0
    engine = make_engine(database_url)
    with as_superuser(engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0
    engine.dispose()


def test_export_after_an_import_counts_every_file(tmp_path, database_url):
    invoke = _invoker(tmp_path, database_url)
    assert invoke("import", str(APPLE)).exit_code == 0
    out = tmp_path / "me.zip"
    result = invoke("export", str(out), "--json")
    assert result.exit_code == 0, result.output
    manifest = _manifest_matches(out)
    assert json.loads(result.stdout)["files"] == manifest["files"]
    assert manifest["files"]["csv/quantity_samples.csv"] > 0
    assert manifest["files"]["csv/persons.csv"] == 1


def test_export_refuses_to_overwrite_and_an_unknown_person(tmp_path, database_url):
    invoke = _invoker(tmp_path, database_url)
    out = tmp_path / "taken.zip"
    out.write_bytes(b"mine")
    result = invoke("export", str(out))
    assert result.exit_code == 2 and "exists already" in result.stderr
    assert out.read_bytes() == b"mine"
    result = invoke("export", str(tmp_path / "x.zip"), "--person", "nobody")
    assert result.exit_code == 1 and "nobody" in result.stderr
    assert not (tmp_path / "x.zip").exists()
