"""Imports on PostgreSQL go by COPY into a staging table and one de-duplicating insert
(`store.pg_copy`); they store exactly what SQLite's path stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from tests.conftest import as_superuser
from tests.ingest.apple_builder import HEAD, TAIL, records

from healthpod.config import Settings
from healthpod.ingest import registry
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import rls, schema
from healthpod.store.engine import make_engine
from healthpod.store.imports.transaction import begin_import
from healthpod.store.resource_index import tokens_of

HR = "HKQuantityTypeIdentifierHeartRate"


def _record(start: str, value: int, created: str, *, meta: str = "") -> bytes:
    stamp = f"2024-01-01 {start} +0100"
    body = f'><MetadataEntry key="HKNote" value="{meta}"/></Record>' if meta else "/>"
    return (
        f' <Record type="{HR}" sourceName="Watch" unit="count/min" '
        f'creationDate="2024-01-01 {created} +0100" startDate="{stamp}" endDate="{stamp}" '
        f'value="{value}"{body}\n'
    ).encode()


def _export(tmp_path: Path, name: str, body: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(HEAD + body + TAIL)
    return path


def _stored(pod: Pod) -> list[tuple[int, float, int | None]]:
    q = schema.quantity_samples
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(select(q.c.start_ms, q.c.value, q.c.created_ms).order_by(q.c.start_ms))
        return [(int(a), float(b), c) for a, b, c in rows]


def test_equal_records_in_one_file_are_stored_once_and_the_first_as_written(pod, tmp_path):
    first = _export(
        tmp_path,
        "first.xml",
        _record("08:00:00", 60, "08:00:01", meta="first")
        + _record("08:00:00", 60, "08:00:09", meta="second")  # the same sample again
        + _record("08:01:00", 61, "08:01:01"),
    )
    report = import_file(pod, first, errors=ErrorHandling.RAISE)
    assert report.added == {"heart_rate": 2}
    assert report.already_present == 1
    stored = _stored(pod)
    assert [value for _, value, _ in stored] == [60.0, 61.0]
    assert stored[0][2] == stored[0][0] + 1000  # the first one's creation date
    second = _export(
        tmp_path,
        "second.xml",
        _record("08:01:00", 61, "08:01:05") + _record("08:02:00", 62, "08:02:01"),
    )
    report = import_file(pod, second, errors=ErrorHandling.RAISE)
    assert report.added == {"heart_rate": 1}
    assert report.already_present == 1
    assert [value for _, value, _ in _stored(pod)] == [60.0, 61.0, 62.0]


def test_an_import_of_many_batches_stores_each_sample_once(pod, tmp_path):
    # 25 000 records: the parser hands them over in three batches.
    export = _export(tmp_path, "many.xml", records(0, 25_000))
    report = import_file(pod, export, errors=ErrorHandling.RAISE)
    assert report.total_added == 25_000
    overlapping = _export(tmp_path, "overlap.xml", records(20_000, 10_000))
    again = import_file(pod, overlapping, errors=ErrorHandling.RAISE)
    assert again.total_added == 5_000
    assert again.already_present == 5_000
    with as_superuser(pod.engine) as conn:
        stored = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
    assert stored == 30_000


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_leaves_no_staging_table_and_no_setting_behind(pod, tmp_path):
    import_file(pod, _export(tmp_path, "a.xml", records(0, 100)), errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        assert conn.scalar(text("SHOW session_replication_role")) == "origin"
        left = conn.scalar(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'staging_%'"))
    assert left == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_role_that_must_keep_reference_checks_on_imports_the_same(database_url, tmp_path):
    """A role that may not set session_replication_role imports with the checks on: the app
    role, which owns nothing and works under row-level security, on a server where the
    grant `healthpod db roles` makes was taken back (or before PostgreSQL 15)."""
    home = tmp_path / "home"
    home.mkdir()
    pod = Pod.open(Settings(home=home, database_url=database_url))
    parameter = "ON PARAMETER session_replication_role"
    role = make_url(database_url).username
    try:
        with as_superuser(pod.engine) as conn:
            conn.execute(text(f'REVOKE SET {parameter} FROM "{role}"'))
        with pod.engine.connect() as conn:
            assert conn.scalar(text("SELECT current_setting('is_superuser')")) == "off"
            may = "has_parameter_privilege('session_replication_role', 'SET')"
            assert conn.scalar(text(f"SELECT {may}")) is False
        export = _export(tmp_path, "a.xml", records(0, 3_000))
        assert import_file(pod, export, errors=ErrorHandling.RAISE).total_added == 3_000
        assert import_file(pod, export, errors=ErrorHandling.RAISE).total_added == 0
    finally:
        with as_superuser(pod.engine) as conn:
            conn.execute(text(f'GRANT SET {parameter} TO "{role}"'))
        pod.close()


def test_resources_written_many_at_once_keep_their_own_search_tokens(pod):
    """On PostgreSQL a batch of resources gets its ids first and goes by COPY: each token row
    must still point at the resource it was read from."""
    bundle = Path(__file__).parents[1] / "data" / "fhir" / "synthea"
    (path,) = bundle.glob("*.json")
    report = import_file(pod, path, errors=ErrorHandling.RAISE)
    assert sum(report.added.values()) >= 50
    r, t = schema.resources, schema.resource_tokens
    with as_superuser(pod.engine) as conn:
        stored = {int(pk): doc for pk, doc in conn.execute(select(r.c.id, r.c.json))}
        tokens = conn.execute(select(t.c.resource_id, t.c.param, t.c.system, t.c.code)).all()

    def key(row: tuple[int, str, str | None, str]) -> tuple[int, str, str, str]:
        return (row[0], row[1], row[2] or "", row[3])

    expected = sorted(
        (
            (pk, token.param, token.system, token.code)
            for pk, doc in stored.items()
            for token in tokens_of(doc)
        ),
        key=key,
    )
    assert len(expected) >= 50
    assert sorted(((int(a), b, c, d) for a, b, c, d in tokens), key=key) == expected


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_app_role_imports_through_row_level_security(database_url, pg_template, tmp_path):
    """The app role owns no table and may not turn foreign-key checks off: its import stages,
    copies and inserts under the person's policy, and stores what the superuser's would."""
    superuser = make_engine(pg_template.as_role(database_url, "superuser"))
    with superuser.begin() as conn:
        person_id = conn.execute(
            insert(schema.persons).values(name="anna", created_ms=0).returning(schema.persons.c.id)
        ).scalar_one()
    superuser.dispose()
    app = make_engine(pg_template.as_role(database_url, "app"))
    (bundle,) = (Path(__file__).parents[1] / "data" / "fhir" / "synthea").glob("*.json")
    apple = _export(tmp_path, "a.xml", records(0, 3_000))
    try:
        for path in (apple, bundle, apple):
            importer = registry.detect(path.read_bytes()[:4096], path.name)
            with (
                begin_import(
                    app,
                    person_id=person_id,
                    filename=path.name,
                    format=importer.format,
                    started_ms=0,
                ) as transaction,
                path.open("rb") as fp,
            ):
                transaction.write(
                    importer.read(
                        fp, filename=path.name, on_progress=None, errors=ErrorHandling.RAISE
                    )
                )
                transaction.complete(sha256="", finished_ms=1)
        with app.begin() as conn:
            assert conn.scalar(text("SELECT current_setting('is_superuser')")) == "off"
            rls.act_for(conn, person_id)
            counts = {
                table.name: conn.scalar(select(func.count()).select_from(table))
                for table in (schema.quantity_samples, schema.resources, schema.resource_tokens)
            }
    finally:
        app.dispose()
    assert counts["quantity_samples"] >= 3_000
    assert counts["resources"] >= 50
    assert counts["resource_tokens"] >= 50


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_foreign_key_checks_are_off_only_inside_an_import_and_only_when_granted(
    database_url, pg_template
):
    superuser = make_engine(pg_template.as_role(database_url, "superuser"))
    with superuser.begin() as conn:
        person_id = conn.execute(
            insert(schema.persons).values(name="anna", created_ms=0).returning(schema.persons.c.id)
        ).scalar_one()
    app = make_engine(pg_template.as_role(database_url, "app"))

    def inside_an_import() -> str:
        with begin_import(
            app, person_id=person_id, filename="x", format="apple-health", started_ms=0
        ) as transaction:
            return str(transaction.conn.scalar(text("SHOW session_replication_role")))

    try:
        # The app role as `healthpod db roles` makes it may: an import takes the fast path.
        assert inside_an_import() == "replica"
        with app.connect() as conn:  # the next transaction on the pool has the checks back
            assert conn.scalar(text("SHOW session_replication_role")) == "origin"
        app_role = make_url(pg_template.as_role(database_url, "app")).username
        parameter = "ON PARAMETER session_replication_role"
        with superuser.begin() as conn:
            conn.execute(text(f'REVOKE SET {parameter} FROM "{app_role}"'))
        try:
            assert inside_an_import() == "origin"  # not granted: the checks stay on
        finally:
            with superuser.begin() as conn:
                conn.execute(text(f'GRANT SET {parameter} TO "{app_role}"'))
    finally:
        app.dispose()
        superuser.dispose()
