"""A reader process started ahead of the import: taken by the next import, or ended unused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from healthpod.ingest import reader_process
from healthpod.ingest.apple import archive
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file

APPLE = Path(__file__).parents[1] / "data" / "apple" / "handmade" / "export.xml"


@pytest.fixture
def export_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Health export.zip that counts as large (so it is parsed in a reader process)."""
    monkeypatch.setattr(reader_process, "PARALLEL_MIN_BYTES", 1)
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(APPLE, "apple_health_export/export.xml")
    return path


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every reader process started from now on."""
    started: list[object] = []
    spawn = reader_process._spawn

    def counted():  # type: ignore[no-untyped-def]
        child = spawn()
        started.append(child)
        return child

    monkeypatch.setattr(reader_process, "_spawn", counted)
    return started


def test_the_next_import_takes_the_prestarted_reader(pod):
    reader_process.prestart()
    spare = reader_process._spare
    assert spare is not None
    report = import_file(pod, APPLE, errors=ErrorHandling.RAISE, parallel=True)
    assert report.status == "completed" and report.total_added > 0
    assert reader_process._spare is None
    assert spare.process.returncode is not None  # it read the file and was waited for


def test_an_unused_reader_ends_quietly(capfd):
    reader_process.prestart()
    spare = reader_process._spare
    assert spare is not None
    reader_process.discard_spare()
    assert reader_process._spare is None
    assert spare.process.returncode is not None
    assert "Traceback" not in capfd.readouterr().err


def test_a_reader_whose_stdin_closes_exits_without_a_traceback(capfd):
    child = reader_process._spawn()
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    assert child.stdout.read() == b""
    child.stdout.close()
    assert "Traceback" not in capfd.readouterr().err


def test_an_export_read_from_the_start_is_the_one_the_import_takes(pod, export_zip, spawned):
    early = archive.early_reader(export_zip)
    assert early is not None
    reader_process.prestart(early)  # as `healthpod import` does before the store loads
    report = import_file(pod, export_zip, parallel=True)
    assert report.status == "completed" and report.total_added > 0
    assert len(spawned) == 1  # no second reader: the import wanted what the first one read


def test_a_wrong_guess_is_ended_and_the_import_reads_what_it_wants(
    pod, export_zip, tmp_path, spawned
):
    other = tmp_path / "other.zip"
    other.write_bytes(export_zip.read_bytes())
    reader_process.prestart(archive.early_reader(other))
    report = import_file(pod, export_zip, parallel=True)
    assert report.status == "completed" and report.total_added > 0
    assert len(spawned) == 2
    assert all(child.returncode is not None for child in spawned)  # type: ignore[attr-defined]


def test_only_a_large_health_export_is_read_early(tmp_path, monkeypatch):
    not_a_zip = tmp_path / "export.xml"
    not_a_zip.write_bytes(APPLE.read_bytes())
    other_zip = tmp_path / "fit.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("activity.fit", b"\x0e\x10")
    assert archive.early_reader(not_a_zip) is None
    assert archive.early_reader(other_zip) is None
    assert archive.early_reader(tmp_path / "missing.zip") is None
    small = tmp_path / "small.zip"
    with zipfile.ZipFile(small, "w") as zf:
        zf.write(APPLE, "apple_health_export/export.xml")
    assert archive.early_reader(small) is None  # below PARALLEL_MIN_BYTES


@pytest.mark.parametrize(
    ("argv", "reads_early"),
    [
        (["--home", "{home}", "import", "{zip}", "--json"], True),
        (["import", "--person", "anna", "{zip}"], True),
        (["import", "--format", "apple-health", "{zip}"], False),  # told, not guessed
        (["import", "{zip}", "{zip}"], False),  # two files: readers start as each import runs
        (["stats", "--json"], False),
        (["import", "--no-such-option", "{zip}"], False),
    ],
)
def test_the_command_line_starts_the_reader_before_the_settings_load(
    argv, reads_early, export_zip, tmp_path, monkeypatch
):
    """Reading the export begins before the settings (and after them the store and the
    importers) load; each command line is parsed once, by click itself."""
    import click
    from click.testing import CliRunner

    from healthpod import cli, config
    from healthpod.errors import ConfigError

    reading_when_settings_load: list[bool] = []

    def load_settings(**kwargs):  # type: ignore[no-untyped-def]
        spare = reader_process._spare
        reading_when_settings_load.append(spare is not None and spare.spec is not None)
        if spare is not None and spare.spec is not None:
            assert spare.spec == archive.early_reader(export_zip)
        raise ConfigError("stopped here by the test")

    parsed: list[str] = []
    parse_args = click.Command.parse_args

    def counted(self, ctx, args):  # type: ignore[no-untyped-def]
        parsed.append(self.name or "")
        return parse_args(self, ctx, args)

    monkeypatch.setattr(config, "load_settings", load_settings)
    monkeypatch.setattr(click.Command, "parse_args", counted)
    given = [a.format(home=tmp_path / "home", zip=export_zip) for a in argv]
    try:
        result = CliRunner().invoke(cli.cli, given)
    finally:
        reader_process.discard_spare()
    assert result.exit_code == 2, result.output
    assert reading_when_settings_load == ([] if "--no-such-option" in argv else [reads_early])
    assert parsed[0] == "cli"
    assert len(parsed) == len(set(parsed)), f"parsed more than once: {parsed}"


def test_a_zip_is_as_large_as_its_members_inflate_to(tmp_path):
    xml = APPLE.read_bytes() * 40
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("apple_health_export/export.xml", xml)
    assert path.stat().st_size < len(xml)
    assert reader_process.parsed_bytes(path) == len(xml)
    assert reader_process.parsed_bytes(APPLE) == APPLE.stat().st_size  # not a zip


def test_a_damaged_zip_is_only_as_large_as_the_file_and_not_guessed(export_zip, tmp_path):
    cut = tmp_path / "cut.zip"
    cut.write_bytes(export_zip.read_bytes()[: export_zip.stat().st_size // 2])
    assert reader_process.parsed_bytes(cut) == cut.stat().st_size
    assert archive.early_reader(cut) is None
