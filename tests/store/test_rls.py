"""Row-level security on PostgreSQL: the second lock holds even where a query forgets its filter.

Who must NOT see what: the app role with no person named sees no row of any person's table; a
transaction working for one person sees none of another's, even in a query with no person
filter; it cannot insert a row for another person; and the app role cannot take the lock off
(ALTER, DROP, DISABLE ROW LEVEL SECURITY, DROP POLICY).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError
from tests.conftest import DATA, PgTemplate

from healthpod.cli import cli
from healthpod.config import Settings
from healthpod.errors import StorageError
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import rls, schema
from healthpod.store.engine import make_engine
from healthpod.store.imports.transaction import begin_import
from healthpod.store.person_data import for_owner
from healthpod.store.row_counts import row_counts


@pytest.fixture
def urls(pg_template: PgTemplate | None) -> Iterator[dict[str, str]]:
    if pg_template is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI: set HEALTHPOD_TEST_PG_URL")
        pytest.skip("no PostgreSQL (set HEALTHPOD_TEST_PG_URL)")
    url = pg_template.clone()
    yield {role: pg_template.as_role(url, role) for role in ("owner", "app", "superuser")}
    pg_template.drop(make_url(url).database or "")


@pytest.fixture(params=[False, True], ids=["direct", "pooler"])
def app(request: pytest.FixtureRequest, urls: dict[str, str]) -> Iterator[Engine]:
    """The app role's engine; "pooler": psycopg prepares no statements, as behind PgBouncer."""
    engine = make_engine(urls["app"], pooler=request.param)
    yield engine
    engine.dispose()


def _two_people(engine: Engine) -> tuple[int, int]:
    """Ann and Bo, each with one source and one sample, written through their own transactions."""
    ids = []
    for name, value in (("ann", 60.0), ("bo", 99.0)):
        with engine.begin() as conn:
            person = int(conn.scalar(text("SELECT nextval('persons_id_seq')")))
            rls.act_for(conn, person)
            conn.execute(insert(schema.persons).values(id=person, name=name, created_ms=1))
            source = conn.scalar(
                insert(schema.sources)
                .values(person_id=person, name=f"{name}'s watch")
                .returning(schema.sources.c.id)
            )
            kind = conn.scalar(
                select(schema.sample_types.c.id).where(schema.sample_types.c.code == "heart_rate")
            )
            if kind is None:
                kind = conn.scalar(
                    insert(schema.sample_types)
                    .values(code="heart_rate", kind="quantity", unit="/min")
                    .returning(schema.sample_types.c.id)
                )
            imported = conn.scalar(
                insert(schema.imports)
                .values(
                    person_id=person,
                    filename="x.xml",
                    sha256="0" * 64,
                    format="apple",
                    status="completed",
                    added={},
                    unknown_types=[],
                    warnings=[],
                    started_ms=1,
                )
                .returning(schema.imports.c.id)
            )
            conn.execute(
                insert(schema.quantity_samples).values(
                    person_id=person,
                    type_id=kind,
                    start_ms=1,
                    end_ms=2,
                    start_offset_min=0,
                    end_offset_min=0,
                    source_id=source,
                    import_id=imported,
                    value=value,
                    unit="/min",
                )
            )
        ids.append(person)
    return ids[0], ids[1]


def test_a_query_that_forgets_its_person_filter_sees_only_that_persons_rows(app: Engine) -> None:
    ann, bo = _two_people(app)
    q = schema.quantity_samples
    with app.begin() as conn:
        rls.act_for(conn, ann)
        # No WHERE person_id = … anywhere: the policy adds it.
        assert conn.scalars(select(q.c.value)).all() == [60.0]
        assert conn.scalars(select(schema.persons.c.name)).all() == ["ann"]
        assert conn.scalars(select(schema.sources.c.name)).all() == ["ann's watch"]
        # Nor can an update or delete without a filter reach Bo's rows.
        assert conn.execute(update(q).values(value=1.0)).rowcount == 1
    with app.begin() as conn:
        rls.act_for(conn, bo)
        assert conn.scalars(select(q.c.value)).all() == [99.0]


def test_the_app_role_with_no_person_named_sees_no_row(app: Engine) -> None:
    _two_people(app)
    with app.begin() as conn:
        for name in (*rls.PERSON_TABLES, "persons"):
            table = schema.metadata.tables[name]
            assert conn.scalar(select(func.count()).select_from(table)) == 0, name
        # Shared tables have no policy: what a type code means is everyone's.
        assert conn.scalar(select(func.count()).select_from(schema.sample_types)) == 1
    with app.begin() as conn:  # an empty setting is no person either
        conn.execute(text("SELECT set_config('healthpod.person_id', '', true)"))
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0


def test_the_setting_ends_with_its_transaction(app: Engine) -> None:
    ann, _ = _two_people(app)
    with app.connect() as conn:
        with conn.begin():
            rls.act_for(conn, ann)
            assert conn.scalar(select(func.count()).select_from(schema.sources)) == 1
        with conn.begin():  # the same connection, as a pooler would hand it to someone else
            assert conn.scalar(select(func.count()).select_from(schema.sources)) == 0


def test_no_insert_for_another_person(app: Engine) -> None:
    ann, bo = _two_people(app)
    with app.connect() as conn:
        with pytest.raises(ProgrammingError, match="row-level security"), conn.begin():
            rls.act_for(conn, ann)
            conn.execute(insert(schema.sources).values(person_id=bo, name="planted"))
        with pytest.raises(ProgrammingError, match="row-level security"), conn.begin():
            conn.execute(insert(schema.sources).values(person_id=bo, name="no one named"))
        with pytest.raises(ProgrammingError, match="row-level security"), conn.begin():
            rls.act_for(conn, ann)  # nor move a row of one's own to another person
            conn.execute(update(schema.sources).values(person_id=bo))
    with app.begin() as conn:
        rls.act_for(conn, bo)
        assert conn.scalars(select(schema.sources.c.name)).all() == ["bo's watch"]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE quantity_samples DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE quantity_samples NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY person_rows ON quantity_samples",
        "CREATE POLICY everything ON quantity_samples USING (true)",
        "ALTER TABLE persons ADD COLUMN planted text",
        "DROP TABLE access_log",
        "TRUNCATE access_log",
        "CREATE TABLE planted (id int)",
        "SET ROLE healthpod",  # the server's superuser
        "ALTER ROLE CURRENT_USER BYPASSRLS",
    ],
)
def test_the_app_role_cannot_take_the_lock_off(urls: dict[str, str], statement: str) -> None:
    engine = make_engine(urls["app"])
    try:
        with (
            pytest.raises(DBAPIError, match=r"must be owner|must be superuser|permission denied"),
            engine.begin() as c,
        ):
            c.exec_driver_sql(statement)
    finally:
        engine.dispose()
    owner = make_engine(urls["owner"])
    with owner.connect() as conn:
        forced = conn.execute(
            text("SELECT relname FROM pg_class WHERE relforcerowsecurity AND relrowsecurity")
        ).scalars()
        assert {*rls.PERSON_TABLES, "persons"} <= set(forced)
    owner.dispose()


def test_every_table_with_a_person_column_is_locked(urls: dict[str, str]) -> None:
    """Found in the database itself, not in our list: a new table cannot be forgotten."""
    engine = make_engine(urls["owner"])
    with engine.connect() as conn:
        keyed = set(
            conn.scalars(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                    "WHERE c.relkind = 'r' AND a.attname = 'person_id' AND NOT a.attisdropped "
                    "AND c.relnamespace = 'public'::regnamespace"
                )
            )
        )
        forced = set(
            conn.scalars(
                text(
                    "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity "
                    "AND relnamespace = 'public'::regnamespace"
                )
            )
        )
        owned_by_app = conn.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = :app"
            ),
            {"app": urls["app"].split("//", 1)[1].split("@", 1)[0]},
        )
    engine.dispose()
    assert keyed == set(rls.PERSON_TABLES)
    assert keyed | {"persons"} == forced
    assert owned_by_app == 0


def test_the_owner_role_too_sees_no_row_without_a_person(urls: dict[str, str]) -> None:
    """FORCE: the tables' owner is held by the policies as well (only a superuser is not)."""
    app = make_engine(urls["app"])
    _two_people(app)
    app.dispose()
    owner = make_engine(urls["owner"])
    with owner.begin() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
    owner.dispose()


def test_a_named_scope_opens_only_its_tables_and_only_to_read(app: Engine) -> None:
    ann, bo = _two_people(app)
    with app.begin() as conn:
        for person, name in ((ann, "ann"), (bo, "bo")):
            rls.act_for(conn, person)
            conn.execute(
                insert(schema.accounts).values(
                    username=name, password_hash="x", person_id=person, created_ms=1
                )
            )
    with app.connect() as conn:
        with conn.begin(), rls.scoped(conn, "sign-in"):
            found = conn.execute(
                select(schema.accounts.c.person_id).where(schema.accounts.c.username == "bo")
            ).scalar()
            assert found == bo
            # Nothing else opens: not the persons, not their data.
            assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0
            assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
            # And a scope reads only: no account changes under it.
            changed = conn.execute(update(schema.accounts).values(password_hash="planted"))
            assert changed.rowcount == 0
        with conn.begin():
            with rls.scoped(conn, "operator"):
                assert sorted(conn.scalars(select(schema.persons.c.name))) == ["ann", "bo"]
                assert conn.scalar(select(func.count()).select_from(schema.sources)) == 0
            # The scope ends with its block, inside the same transaction.
            assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0
    with (
        pytest.raises(ValueError, match="no such scope"),
        app.begin() as conn,
        rls.scoped(conn, "everything"),  # type: ignore[arg-type]
    ):
        pass


def test_the_cohort_scope_appends_to_the_log_and_changes_nothing_else(app: Engine) -> None:
    """The one scope that writes: a batch of access-log entries and their heads, nothing
    else, and not outside its block."""
    ann, bo = _two_people(app)
    entry = {
        "seq": 1,
        "at_ms": 1,
        "done_by": "actor",
        "event": "x",
        "outcome": "ok",
        "reason": "",
        "details": {},
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    log, heads = schema.access_log, schema.access_log_heads
    with app.connect() as conn:
        with conn.begin(), rls.scoped(conn, "cohort"):
            conn.execute(insert(log), [{**entry, "person_id": p} for p in (ann, bo)])
            conn.execute(
                insert(heads),
                [{"person_id": p, "seq": 1, "hash": "1" * 64, "mac": "m"} for p in (ann, bo)],
            )
            assert conn.execute(update(heads).values(mac="n")).rowcount == 2
            # The log itself stays closed to reading, changing and deleting.
            assert conn.scalar(select(func.count()).select_from(log)) == 0
            assert conn.execute(update(log).values(reason="rewritten")).rowcount == 0
            assert conn.execute(schema.access_log.delete()).rowcount == 0
            # No person's data is written under it, nor another scope's tables read.
            assert conn.execute(update(schema.daily_summaries).values(total=1.0)).rowcount == 0
            assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
            assert conn.scalar(select(func.count()).select_from(schema.accounts)) == 0
            # The persons are read (an answer's groups: age band, sex), never changed.
            assert conn.scalar(select(func.count()).select_from(schema.persons)) == 2
            assert conn.execute(update(schema.persons).values(sex="other")).rowcount == 0
        # Outside the block, the same batch is refused.
        with conn.begin(), pytest.raises(ProgrammingError, match="row-level security"):
            conn.execute(insert(log), [{**entry, "person_id": p, "seq": 2} for p in (ann, bo)])


def test_db_roles_prints_and_runs_the_sql(urls: dict[str, str]) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        cli,
        ["--database-url", urls["superuser"], "db", "roles", "--owner", "o", "--app", "a"],
    )
    assert shown.exit_code == 0, shown.output
    assert 'CREATE ROLE "a" LOGIN NOSUPERUSER NOBYPASSRLS' in shown.output
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "public" TO "a";' in (
        shown.output
    )
    assert 'GRANT SET ON PARAMETER session_replication_role TO "a";' in shown.output
    bad = runner.invoke(cli, ["--database-url", urls["superuser"], "db", "roles", "--app", "a;b"])
    assert bad.exit_code == 2
    assert "not a role, database or schema name" in bad.output
    tag = os.urandom(4).hex()
    owner, app = f"hp_o_{tag}", f"hp_a_{tag}"
    ran = runner.invoke(
        cli,
        [
            "--database-url",
            urls["superuser"],
            "db",
            "roles",
            "--owner",
            owner,
            "--app",
            app,
            "--run",
        ],
    )
    try:
        assert ran.exit_code == 0, ran.output
        as_new = make_url(urls["superuser"]).set(username=app)
        engine = make_engine(as_new.render_as_string(hide_password=False))
        with engine.begin() as conn:  # the new app role may read rows, under the policies
            assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0
            # ... and set session_replication_role, so its imports take the fast path
            may = "has_parameter_privilege('session_replication_role', 'SET')"
            assert conn.scalar(text(f"SELECT {may}")) is True
        engine.dispose()
    finally:
        admin = make_engine(urls["superuser"], isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in (app, owner):
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_sqlite_has_no_policies(tmp_path: object) -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        rls.act_for(conn, 1)  # nothing to do, and nothing sent
        with rls.scoped(conn, "operator"):
            rls.enable(conn)
    engine.dispose()


def test_a_pod_behind_a_pooler_imports_and_reads_under_the_policies(
    urls: dict[str, str], tmp_path: Path
) -> None:
    """HEALTHPOD_DATABASE_POOLER: no prepared statements; an import and the person's own door
    work as the app role, and another person's door shows none of it."""
    home = tmp_path / "home"
    home.mkdir()
    pod = Pod.open(Settings(home=home, database_url=urls["app"], database_pooler=True))
    try:
        with pod.engine.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold is None
        export = DATA / "apple" / "ahcd-go" / "export.xml"
        added = import_file(pod, export, errors=ErrorHandling.RAISE).total_added
        assert added > 0
        me, other = pod.person_id(), pod.person_id("someone else")
        with for_owner(pod.engine, pod.reads, me).reader() as read:
            assert sum(row_counts(read).values()) >= added
        with for_owner(pod.engine, pod.reads, other).reader() as read:
            assert sum(row_counts(read).values()) == 0
            # Even SQL without any person filter sees none of the first person's samples.
            assert read.conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
    finally:
        pod.close()


def test_every_named_scope_is_opened_by_a_with_block() -> None:
    """`rls.scoped(conn, …)` is a context manager: called on its own line it sends nothing, and
    the query after it sees no row under the app role (as the research cohort and the e-ID
    look-up once did)."""
    src, tests = Path(rls.__file__).parents[1], Path(__file__).parents[1]
    bare: list[str] = []
    for path in sorted([*src.rglob("*.py"), *tests.rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        opened = {
            id(item.context_expr)
            for node in ast.walk(tree)
            if isinstance(node, ast.With)
            for item in node.items
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "scoped"
                and id(node) not in opened
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []


def test_an_import_without_reference_checks_is_still_under_the_policies(app: Engine) -> None:
    """session_replication_role = replica turns off triggers (the foreign-key checks), not
    row-level security: inside an import that set it, the app role still sees only its
    person's rows and cannot write another person's."""
    ann, bo = _two_people(app)
    with begin_import(
        app, person_id=ann, filename="x.xml", format="apple-health", started_ms=1
    ) as transaction:
        conn = transaction.conn
        assert conn.scalar(text("SHOW session_replication_role")) == "replica"
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 1
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 1
        planted = conn.execute(update(schema.sources).values(name="planted"))
        assert planted.rowcount == 1  # Ann's own source, none of Bo's
    with (
        pytest.raises(StorageError, match="row-level security"),
        begin_import(
            app, person_id=ann, filename="y.xml", format="apple-health", started_ms=1
        ) as transaction,
    ):
        transaction.conn.execute(insert(schema.sources).values(person_id=bo, name="planted"))
    with app.begin() as conn:
        rls.act_for(conn, bo)
        assert list(conn.scalars(select(schema.sources.c.name))) == ["bo's watch"]
