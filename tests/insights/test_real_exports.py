"""Daily totals from the real Apple exports, against the ActivitySummary values Apple computed.

None of the public exports has both ActivitySummary rows and the energy/exercise samples behind
them for the same days (they are fixtures cut from real exports): healthkit-to-sqlite keeps
Apple's summaries for 2016-11-15/16 but no energy or exercise samples; apple-health-parser keeps
samples from 2024-01-01/02 but no summaries. So the comparison states what each side has, and
our totals are checked against an independent sum of the XML's records.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.errors import NotFound
from healthpod.ingest.base import ErrorHandling
from healthpod.ingest.run import import_file
from healthpod.insights.apple_check import compare
from healthpod.insights.stats import bucket_stats
from healthpod.store import schema
from healthpod.store.person_data import owner_writer
from insights.builder import Person

APPLE = Path(__file__).parents[1] / "data" / "apple"


def xml_daily_sums(path: Path, hk_type: str) -> dict[str, float]:
    """Independent count: the sum of a type's record values per local start date."""
    sums: dict[str, float] = {}
    for record in ET.parse(path).getroot().iter("Record"):
        if record.get("type") == hk_type:
            day = record.get("startDate", "")[:10]
            sums[day] = sums.get(day, 0.0) + float(record.get("value", "0"))
    return sums


def test_apple_health_parser_export_daily_energy_and_exercise(pod):
    path = APPLE / "apple-health-parser" / "export.xml"
    import_file(pod, path, errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        person = pod.person_id(connection=conn)
        for code, hk in [
            ("active_energy", "HKQuantityTypeIdentifierActiveEnergyBurned"),
            ("exercise_time", "HKQuantityTypeIdentifierAppleExerciseTime"),
        ]:
            ours = {
                b.start: b.total for b in bucket_stats(owner_writer(conn, person), code).buckets
            }
            expected = xml_daily_sums(path, hk)
            assert ours == pytest.approx(expected), code
        summaries = conn.execute(select(schema.activity_summaries)).all()
    assert summaries == []  # nothing from Apple to compare with in this export


def test_healthkit_to_sqlite_export_has_summaries_but_no_samples_behind_them(pod):
    import_file(pod, APPLE / "healthkit-to-sqlite" / "export.xml", errors=ErrorHandling.RAISE)
    with as_superuser(pod.engine) as conn:
        person = pod.person_id(connection=conn)
        rows = conn.execute(
            select(
                schema.activity_summaries.c.date_on,
                schema.activity_summaries.c.active_energy_kcal,
                schema.activity_summaries.c.exercise_min,
            ).order_by(schema.activity_summaries.c.date_on)
        ).all()
        assert [(str(d), e, m) for d, e, m in rows] == [
            ("2016-11-15", pytest.approx(590.252), 68),
            ("2016-11-16", pytest.approx(323.513), 39),
        ]
        for code in ("active_energy", "exercise_time"):
            with pytest.raises(NotFound):
                bucket_stats(owner_writer(conn, person), code)


def test_compare_apple_lists_each_side_and_the_differences(pod, settings):
    import_file(pod, APPLE / "healthkit-to-sqlite" / "export.xml", errors=ErrorHandling.RAISE)
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    result = CliRunner().invoke(
        cli, [*base, "stats", "exercise_time", "--compare-apple", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["days"] == [
        {"day": "2016-11-15", "apple": 68.0, "ours": None, "difference": None},
        {"day": "2016-11-16", "apple": 39.0, "ours": None, "difference": None},
    ]
    assert doc["days_compared"] == 0
    steps = CliRunner().invoke(cli, [*base, "stats", "steps", "--compare-apple"])
    assert steps.exit_code == 2 and "no 'steps'" in steps.stderr


def test_compare_apple_keeps_to_the_days_asked_for(pod, settings):
    import_file(pod, APPLE / "healthkit-to-sqlite" / "export.xml", errors=ErrorHandling.RAISE)
    base = ["--home", str(settings.home), "--database-url", settings.database_url]

    def compare_days(*dates: str) -> list[str]:
        args = [*base, "stats", "exercise_time", "--compare-apple", "--json", *dates]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return [day["day"] for day in json.loads(result.stdout)["days"]]

    assert compare_days("--from", "2016-11-16") == ["2016-11-16"]
    assert compare_days("--to", "2016-11-15") == ["2016-11-15"]
    assert compare_days("--from", "2016-11-15", "--to", "2016-11-16") == [
        "2016-11-15",
        "2016-11-16",
    ]
    none = CliRunner().invoke(
        cli, [*base, "stats", "exercise_time", "--compare-apple", "--from", "2020-01-01"]
    )
    assert none.exit_code == 1 and "from 2020-01-01 to the end" in none.stderr
    dates = ["--from", "2016-11-16", "--to", "2016-11-15"]
    backwards = CliRunner().invoke(
        cli, [*base, "stats", "exercise_time", "--compare-apple", *dates]
    )
    assert backwards.exit_code == 2 and "ends before it starts" in backwards.stderr


def test_compare_apple_on_a_constructed_day(engine):
    me = Person(engine)
    me.quantity("active_energy", "2026-01-05T09:00+01:00", "2026-01-05T10:00+01:00", 200)
    me.quantity("active_energy", "2026-01-05T18:00+01:00", "2026-01-05T18:30+01:00", 100)
    import_id = me.save()
    with as_superuser(engine) as conn:
        conn.execute(
            insert(schema.activity_summaries).values(
                person_id=me.id,
                date_on=date(2026, 1, 5),
                active_energy_kcal=310.0,
                import_id=import_id,
            )
        )
        (day,) = compare(owner_writer(conn, me.id), "active_energy")
    assert (day.apple, day.ours, day.difference) == (310.0, 300.0, -10.0)
