"""Ready for Citus: every table is a reference table or a person table, and once
`citus.prepare_sql` has run, every key follows Citus's rules and the application still works."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.config import Settings
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.pod import Pod
from healthpod.store import citus, schema
from healthpod.store.engine import make_engine
from healthpod.store.erase import erase_person

DATA = Path(__file__).parents[1] / "data"


def test_every_table_is_a_reference_table_or_holds_the_person():
    names = {t.name for t in schema.metadata.sorted_tables}
    assert set(citus.REFERENCE_TABLES) <= names, "a reference table that no longer exists"
    for name in citus.distributed_tables():
        assert "person_id" in schema.metadata.tables[name].c, (
            f"{name} holds no person_id: add it, or list the table in citus.REFERENCE_TABLES"
        )


def test_the_rules_name_what_breaks_them():
    keys = [
        citus.Constraint("workouts", "pk_workouts", "p", ("id",)),
        citus.Constraint("workouts", "ok", "u", ("person_id", "start_ms")),
        citus.Constraint(
            "workouts", "fk_src", "f", ("source_id",), "sources", ("id",), on_delete="c"
        ),
        citus.Constraint("oauth_codes", "fk_x", "f", ("person_id",), "imports", ("person_id",)),
        citus.Constraint("workouts", "fk_type", "f", ("type_id",), "sample_types", ("id",)),
        citus.Constraint("workouts", "ix_unique_start", "i", ("start_ms",)),
    ]
    found = citus.violations(keys)
    assert len(found) == 4
    assert "pk_workouts" in found[0]
    assert "fk_src" in found[1]
    assert "oauth_codes" in found[2]
    assert "ix_unique_start" in found[3]
    statements = citus.prepare_sql(keys)
    assert 'CREATE UNIQUE INDEX "ix_unique_start" ON "workouts" (person_id, start_ms)' in statements
    assert statements[-1] == (
        'ALTER TABLE "workouts" ADD CONSTRAINT "fk_src" FOREIGN KEY (person_id, source_id)'
        ' REFERENCES "sources" (person_id, id) ON DELETE CASCADE'
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_prepared_keys_follow_citus_rules_and_the_pod_still_works(
    database_url, pg_template, tmp_path
):
    owner = make_engine(pg_template.as_role(database_url, "owner"))
    with owner.begin() as conn:
        before = citus.violations(citus.constraints(conn))
        assert before, "the migration already makes Citus's keys: prepare_sql has nothing to do"
        for statement in citus.prepare_sql(citus.constraints(conn)):
            conn.exec_driver_sql(statement)
        assert citus.violations(citus.constraints(conn)) == []
    owner.dispose()

    home = tmp_path / "home"
    home.mkdir()
    pod = Pod.open(Settings(home=home, database_url=database_url))
    try:
        apple = import_file(
            pod, DATA / "apple" / "ahcd-go" / "export.xml", errors=ErrorHandling.RAISE
        )
        assert apple.total_added > 0
        (bundle,) = (DATA / "fhir" / "synthea").glob("*.json")
        clinical = import_file(pod, bundle, errors=ErrorHandling.RAISE)
        assert sum(clinical.added.values()) > 50
        assert import_file(pod, bundle, errors=ErrorHandling.RAISE).added == {}
        with as_superuser(pod.engine) as conn:
            person_id = conn.scalar(select(schema.persons.c.id))
            erase_person(conn, int(person_id))
        with as_superuser(pod.engine) as conn:
            for table in (schema.quantity_samples, schema.resources, schema.resource_tokens):
                assert conn.scalar(select(func.count()).select_from(table)) == 0
    finally:
        pod.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_db_citus_prints_the_statements_for_this_database(database_url, pg_template):
    owner = pg_template.as_role(database_url, "owner")
    shown = CliRunner().invoke(cli, ["--database-url", owner, "db", "citus"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert 'ALTER TABLE "quantity_samples" DROP CONSTRAINT "pk_quantity_samples";' in lines
    first = citus.distributed_tables()[0]
    assert (
        f"SELECT create_distributed_table('quantity_samples', 'person_id', "
        f"colocate_with => '{first}');"
    ) in lines
    assert "SELECT create_reference_table('persons');" in lines


def test_db_citus_on_sqlite_says_it_is_for_postgresql(tmp_path):
    shown = CliRunner().invoke(cli, ["--home", str(tmp_path), "db", "citus"])
    assert shown.exit_code == 2
    assert "Citus is for PostgreSQL" in shown.output
