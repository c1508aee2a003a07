"""Hostile and broken files: a clear message naming the file (and line), exit 1, nothing stored."""

from __future__ import annotations

import http.server
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.errors import StorageError
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import schema

sys.path.insert(0, str(Path(__file__).parent))
from apple_builder import HEAD, TAIL, export_xml, records

APPLE = Path(__file__).parents[1] / "data" / "apple"
REAL = APPLE / "ahcd-go" / "export.xml"
RECORD = (
    b'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="&x;" unit="count/min" '
    b'startDate="2019-06-01 07:30:12 +0200" endDate="2019-06-01 07:30:12 +0200" value="60"/>'
)


def snapshot(pod: Pod) -> dict[str, int]:
    """Row counts of every table but the import history, plus the completed imports."""
    counts = {}
    with as_superuser(pod.engine) as conn:
        for table in schema.metadata.sorted_tables:
            if table.name not in ("imports", "persons"):
                counts[table.name] = conn.scalar(select(func.count()).select_from(table))
        counts["completed imports"] = conn.scalar(
            select(func.count()).where(schema.imports.c.status == "completed")
        )
    return counts


@pytest.fixture
def stocked(pod: Pod) -> Pod:
    """A pod that already holds a real export, so "unchanged" means something."""
    import_file(pod, REAL, errors=ErrorHandling.RAISE)
    return pod


def run_import(settings, path: Path, *args: str):
    return CliRunner().invoke(
        cli,
        [
            "--home",
            str(settings.home),
            "--database-url",
            settings.database_url,
            "import",
            *args,
            str(path),
        ],
        catch_exceptions=False,
    )


def assert_refused(stocked: Pod, settings, path: Path, *phrases: str, args: tuple[str, ...] = ()):
    before = snapshot(stocked)
    result = run_import(settings, path, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: {path.name}")
    for phrase in phrases:
        assert phrase in result.stderr
    assert snapshot(stocked) == before
    return result


def test_billion_laughs(stocked, settings, tmp_path):
    path = tmp_path / "laughs.xml"
    entities = [b'<!ENTITY x0 "ha">'] + [
        f'<!ENTITY x{i} "{f"&x{i - 1};" * 10}">'.encode() for i in range(1, 10)
    ]
    path.write_bytes(
        b"<?xml version='1.0'?>\n<!DOCTYPE HealthData [\n"
        + b"\n".join(entities)
        + b'\n<!ENTITY x "&x9;">\n]>\n<HealthData locale="en_US">'
        + RECORD
        + b"</HealthData>"
    )
    assert_refused(stocked, settings, path, "line 3", "declares XML entities")


def test_external_entity(stocked, settings, tmp_path):
    path = tmp_path / "xxe.xml"
    path.write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n<!ENTITY x SYSTEM "file:///etc/passwd">\n]>'
        b'\n<HealthData locale="en_US">' + RECORD + b"</HealthData>"
    )
    assert_refused(stocked, settings, path, "line 3", "declares XML entities")


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server that records every request it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "fetched">')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthdata.dtd", hits
    server.shutdown()
    server.server_close()


def test_external_dtd_is_never_fetched(stocked, settings, tmp_path, dtd_server):
    url, hits = dtd_server
    path = tmp_path / "dtd.xml"
    path.write_bytes(
        f'<?xml version="1.0"?>\n<!DOCTYPE HealthData SYSTEM "{url}">\n'.encode()
        + b'<HealthData locale="en_US">'
        + RECORD.replace(b"&x;", b"x")
        + b"</HealthData>"
    )
    assert_refused(stocked, settings, path, "line 2", "external document type")
    assert hits == []


def test_parameter_entity_in_the_dtd(stocked, settings, tmp_path, dtd_server):
    url, hits = dtd_server
    path = tmp_path / "param.xml"
    path.write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE HealthData [\n'
        + f'<!ENTITY % p SYSTEM "{url}">\n%p;\n]>\n'.encode()
        + b'<HealthData locale="en_US"></HealthData>'
    )
    assert_refused(stocked, settings, path, "declares XML entities")
    assert hits == []


def test_zip_bomb_is_stopped_while_it_inflates(stocked, settings, tmp_path):
    path = tmp_path / "export.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("apple_health_export/export.xml", "w") as member,
    ):
        member.write(HEAD)
        for _ in range(40):  # 40 MB of comments: valid XML, about 1000 times smaller zipped
            member.write(b"<!-- -->" * 131_072)
        member.write(TAIL)
    assert_refused(stocked, settings, path, "zip bomb")


def test_zip_bomb_with_a_lying_header(stocked, settings, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("apple_health_export/export.xml", HEAD + b"<!-- -->" * 5_000_000 + TAIL)
    data = bytearray(path.read_bytes())
    # Claim a huge compressed size in the central directory, so the ratio looks harmless.
    central = data.rfind(b"PK\x01\x02")
    data[central + 20 : central + 24] = (2**31).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    result = assert_refused(stocked, settings, path)
    assert "zip bomb" in result.stderr or "damaged" in result.stderr


@pytest.mark.parametrize("name", ["../../evil/export.xml", "/etc/export.xml", "..\\..\\export.xml"])
def test_member_names_that_leave_the_archive(stocked, settings, tmp_path, name):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name, REAL.read_bytes())
    assert_refused(stocked, settings, path, "points outside the archive")


def test_zip_that_is_not_a_health_export(stocked, settings, tmp_path):
    path = tmp_path / "holiday.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("IMG_0001.JPG", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
        zf.writestr("notes.txt", "packing list")
        zf.writestr("__MACOSX/._notes.txt", b"\x00\x05\x16\x07")
    assert_refused(stocked, settings, path, "not an export healthpod can read", "IMG_0001.JPG")


def test_zip_without_export_xml_as_apple_health(stocked, settings, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("apple_health_export/export_cda.xml", "<ClinicalDocument/>")
    assert_refused(
        stocked, settings, path, "not an Apple Health export", args=("--format", "apple-health")
    )


def test_truncated_xml(stocked, settings, tmp_path):
    path = tmp_path / "export.xml"
    data = export_xml(400)
    path.write_bytes(data[: len(data) // 2 + 40])
    assert_refused(stocked, settings, path, "cut short", "line 2")


def test_truncated_zip(stocked, settings, tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("apple_health_export/export.xml", export_xml(3000))
    path = tmp_path / "export.zip"
    path.write_bytes(good.read_bytes()[:-200])  # the central directory is gone
    assert_refused(stocked, settings, path, args=("--format", "apple-health"))


def test_a_gigantic_line(stocked, settings, tmp_path):
    path = tmp_path / "export.xml"
    huge = b'<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="' + b"A" * (12 << 20)
    path.write_bytes(HEAD + records(0, 10) + huge + b'" unit="count/min"/>' + TAIL)
    assert_refused(stocked, settings, path, "far longer", "line 22")


def test_binary_garbage(stocked, settings, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(bytes(range(256)) * 64)
    assert_refused(stocked, settings, path, "binary data")
    assert_refused(stocked, settings, path, "not XML", args=("--format", "apple-health"))


def test_xml_that_is_not_a_health_export(stocked, settings, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(b'<?xml version="1.0"?>\n<ClinicalDocument><HealthData/></ClinicalDocument>')
    assert_refused(
        stocked,
        settings,
        path,
        "not an Apple Health export",
        "<ClinicalDocument>",
        args=("--format", "apple-health"),
    )


def test_broken_xml_half_way_stores_nothing(stocked, settings, tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(2000, middle=b' <Record type="x" <oops/>\n'))
    assert_refused(stocked, settings, path, "line 1012", "broken")


def test_bad_element_half_way_is_a_warning_in_the_cli_and_fatal_in_raise_mode(
    stocked, settings, tmp_path
):
    path = tmp_path / "export.xml"
    bad = (
        b' <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="x" unit="count/min"'
        b' value="1"/>\n'
    )
    path.write_bytes(export_xml(2000, middle=bad))
    before = snapshot(stocked)
    from healthpod.errors import MalformedFile

    with pytest.raises(MalformedFile, match="has no startDate"):
        import_file(stocked, path, errors=ErrorHandling.RAISE)
    assert snapshot(stocked) == before
    result = run_import(settings, path)
    assert result.exit_code == 0
    assert "has no startDate" in result.stderr
    assert snapshot(stocked)["quantity_samples"] == before["quantity_samples"] + 2000


def test_full_disk_leaves_the_store_as_before_and_the_next_import_works(stocked, tmp_path):
    if stocked.engine.dialect.name != "sqlite":
        pytest.skip("a full disk is simulated with SQLite's max_page_count")
    path = tmp_path / "export.xml"
    path.write_bytes(export_xml(20_000))
    before = snapshot(stocked)
    with as_superuser(stocked.engine) as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def limit(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 20}")

    stocked.engine.dispose()
    event.listen(stocked.engine, "connect", limit)
    with pytest.raises(StorageError, match="nothing was stored") as caught:
        import_file(stocked, path)
    assert "disk" in (caught.value.hint or "")
    event.remove(stocked.engine, "connect", limit)
    stocked.engine.dispose()
    assert snapshot(stocked) == before
    report = import_file(stocked, path)
    assert report.total_added == 20_000
