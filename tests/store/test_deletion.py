"""Deleting one thing or a whole import, on SQLite and PostgreSQL: no row of it is left in any
table, a re-import of the same file adds nothing until the person lifts the tombstones, and
bad input (deleting twice, another person's id, no confirmation) changes nothing."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.ingest.run import import_file
from healthpod.insights import stats, summaries
from healthpod.pod import DEFAULT_PERSON
from healthpod.store import schema
from healthpod.store.person_data import for_owner

sys.path.insert(0, str(Path(__file__).parents[1]))
from smart_support import add_person, add_samples

DATA = Path(__file__).parents[1] / "data"
APPLE = DATA / "apple" / "handmade" / "export.xml"
IPS = DATA / "fhir" / "ips" / "Bundle-IPS-examples-Bundle-01.json"
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
# Rows a deletion adds on purpose: the tombstones and the access log (with its head).
BOOKKEEPING = {"tombstones", "access_log", "access_log_heads"}


def _run(settings, *args, input=None):
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    return CliRunner().invoke(cli, [*base, *args], input=input)


def _counts(pod, person_id: int) -> dict[str, int]:
    """Rows of the person in every table that holds a person's rows (and `imports`)."""
    found = {}
    with as_superuser(pod.engine) as conn:
        for table in schema.metadata.sorted_tables:
            if "person_id" in table.c and table.name not in BOOKKEEPING:
                found[table.name] = int(
                    conn.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(table.c.person_id == person_id)
                    )
                    or 0
                )
    return found


def _rows_of_import(pod, import_id: int) -> dict[str, int]:
    found = {}
    with as_superuser(pod.engine) as conn:
        for table in schema.metadata.sorted_tables:
            column = table.c.get("import_id")
            if column is not None:
                n = int(conn.scalar(select(func.count()).where(column == import_id)) or 0)
                if n:
                    found[table.name] = n
    return found


def test_a_deleted_import_leaves_no_row_and_stays_deleted_until_lifted(pod, settings, tmp_path):
    person = pod.person_id(DEFAULT_PERSON)
    add_samples(pod.engine, person, "steps", [(T0, 10)], source="Other phone")
    summaries.ensure_fresh(pod.engine, person)  # its daily row, as any reader would make it
    before = _counts(pod, person)
    copy = tmp_path / "export.xml"
    shutil.copy(APPLE, copy)
    first = import_file(pod, copy)
    records = import_file(pod, IPS)
    after_import = _counts(pod, person)
    assert after_import["quantity_samples"] > before["quantity_samples"]
    assert after_import["workouts"] == 1 and after_import["correlations"] >= 1
    assert after_import["resources"] > 0

    refused = _run(settings, "data", "delete", "--import", str(first.import_id), input="n\n")
    assert refused.exit_code == 0 and "Nothing was deleted" in refused.output
    assert _counts(pod, person) == after_import

    for report in (first, records):
        done = _run(settings, "data", "delete", "--import", str(report.import_id), "--yes")
        assert done.exit_code == 0, done.output
        assert _rows_of_import(pod, report.import_id) == {}
    gone = _counts(pod, person)
    # every table holds exactly what it held before the imports (daily summaries included)
    assert gone == before, {k: (before[k], gone[k]) for k in gone if gone[k] != before[k]}

    twice = _run(settings, "data", "delete", "--import", str(first.import_id), "--yes")
    assert twice.exit_code == 1 and f"There is no import {first.import_id}" in twice.output

    # the same files again add nothing: the tombstones keep them deleted
    again = import_file(pod, copy)
    import_file(pod, IPS)
    assert sum(again.added.values()) == 0, (again.added, again.warnings)
    counts = _counts(pod, person)
    imports = {"imports", "summarized_imports"}  # the two new imports' own rows
    assert {k: v for k, v in counts.items() if k not in imports} == {
        k: v for k, v in before.items() if k not in imports
    }
    listed = json.loads(_run(settings, "data", "tombstones", "--json").output)["items"]
    assert listed and {"id", "type", "was", "deleted_ms"} <= set(listed[0])

    # lifted, the file brings everything back
    lifted = _run(settings, "data", "lift-tombstones", "--all")
    assert lifted.exit_code == 0, lifted.output
    import_file(pod, copy)
    import_file(pod, IPS)
    back = _counts(pod, person)
    for table in ("quantity_samples", "category_samples", "correlations", "workouts",
                  "resources", "activity_summaries", "daily_summaries"):  # fmt: skip
        assert back[table] == after_import[table], table


def test_deleting_one_sample_and_one_record(pod, settings):
    anna = pod.person_id(DEFAULT_PERSON)
    bob = add_person(pod.engine, "bob")
    ids = add_samples(pod.engine, anna, "steps", [(T0 + 3_600_000, 4000), (T0 + 7_200_000, 900)])
    theirs = add_samples(pod.engine, bob, "steps", [(T0, 5)])[0]
    owner = for_owner(pod.engine, pod.reads, anna)
    with owner.writer() as write:
        assert stats.daily_values(write, "steps") == {date(2024, 1, 1): 4900}
    assert _run(settings, "data", "mark-wrong", f"q-{ids[1]}").exit_code == 0
    assert _run(settings, "data", "restrict", f"q-{ids[1]}").exit_code == 0

    other = _run(settings, "data", "delete", f"q-{theirs}", "--yes")
    assert other.exit_code == 1 and f"There is no record q-{theirs}" in other.output
    both = _run(settings, "data", "delete", f"q-{ids[1]}", f"q-{theirs}", "--yes")
    assert both.exit_code == 1  # one bad id: nothing is deleted
    with owner.writer() as write:
        assert len(write.marked_wrong()) == 1

    done = _run(settings, "data", "delete", f"q-{ids[1]}", "--yes")
    assert done.exit_code == 0 and "1 measurements" in done.output, done.output
    with as_superuser(pod.engine) as conn:
        for table in (schema.quantity_samples, schema.marked_wrong, schema.restrictions):
            column = table.c.get("row_id", table.c.id)
            left = conn.scalar(
                select(func.count()).where(table.c.person_id == anna, column == ids[1])
            )
            assert left == 0, table.name
    with owner.writer() as write:
        assert stats.daily_values(write, "steps") == {date(2024, 1, 1): 4000}
    twice = _run(settings, "data", "delete", f"q-{ids[1]}", "--yes")
    assert twice.exit_code == 1 and f"There is no record q-{ids[1]}" in twice.output
    # the access log has it as the person's own act
    log = schema.access_log
    with as_superuser(pod.engine) as conn:
        done_by = conn.scalar(
            select(log.c.done_by).where(log.c.person_id == anna, log.c.event == "delete")
        )
    assert done_by == "person"
