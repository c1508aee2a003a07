"""`healthpod stats`, `insights` and `sources` through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from click.testing import CliRunner

from healthpod.cli import cli
from insights.builder import Person


def run(settings, *args):
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def two_sources(engine):
    me = Person(engine)
    me.source("Alex\u2019s Apple\u00a0Watch", priority=1)
    me.source("Alex\u2019s iPhone", priority=2)
    me.quantity(
        "steps", "2026-04-01T10:00+02:00", "2026-04-01T11:00+02:00", 600, "Alex\u2019s iPhone"
    )
    me.quantity(
        "steps",
        "2026-04-01T10:30+02:00",
        "2026-04-01T11:30+02:00",
        300,
        "Alex\u2019s Apple\u00a0Watch",
    )
    me.quantity("heart_rate", "2026-04-01T10:00+02:00", None, 70, "Alex\u2019s Apple\u00a0Watch")
    me.save()
    return me


def test_stats_summary_per_type_as_json(settings, engine):
    two_sources(engine)
    result = run(settings, "stats", "--json")
    assert result.exit_code == 0, result.output
    types = json.loads(result.stdout)["types"]
    assert types["steps"] == {
        "count": 2,
        "unit": "{steps}",
        "first": "2026-04-01T08:00:00Z",
        "last": "2026-04-01T08:30:00Z",
    }
    assert types["heart_rate"]["unit"] == "/min"


def test_stats_of_one_type_per_day_with_units_and_local_dates(settings, engine):
    two_sources(engine)
    result = run(settings, "stats", "steps", "--by", "day", "--json")
    doc = json.loads(result.stdout)
    (day,) = doc["buckets"]
    assert (day["start"], day["end"]) == ("2026-04-01", "2026-04-02")
    assert day["sum"] == {"value": 600.0, "unit": "{steps}"}
    text = run(settings, "stats", "steps").stdout
    assert "2026-04-01" in text and "600" in text


def test_explain_says_which_source_counted_when(settings, engine):
    two_sources(engine)
    result = run(settings, "stats", "steps", "--explain", "2026-04-01", "--json")
    spans = json.loads(result.stdout)["spans"]
    assert [(s["start"], s["end"], s["source"], s["amount"]["value"]) for s in spans] == [
        ("2026-04-01T10:00:00+02:00", "2026-04-01T10:30:00+02:00", "Alex\u2019s iPhone", 300.0),
        (
            "2026-04-01T10:30:00+02:00",
            "2026-04-01T11:30:00+02:00",
            "Alex\u2019s Apple\u00a0Watch",
            300.0,
        ),
    ]


def test_sources_list_and_reorder_recomputes_the_day(settings, engine):
    two_sources(engine)
    listed = json.loads(run(settings, "sources", "--json").stdout)["sources"]
    assert [(s["name"], s["rank"], s["samples"]) for s in listed] == [
        ("Alex\u2019s Apple\u00a0Watch", 1, 2),
        ("Alex\u2019s iPhone", 2, 1),
    ]
    # typed with a plain apostrophe and space, as a person would
    moved = run(settings, "sources", "priority", "alex's iphone", "1")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.splitlines()[0].endswith("Alex\u2019s iPhone")
    day = json.loads(run(settings, "stats", "steps", "--json").stdout)["buckets"][0]
    # the phone now wins 10:00-11:00 (600); the watch keeps 11:00-11:30 (150)
    assert day["sum"]["value"] == 750.0


def test_a_type_can_have_its_own_source_order(settings, engine):
    me = two_sources(engine)
    me.quantity(
        "distance_walking_running",
        "2026-04-01T10:00+02:00",
        "2026-04-01T11:00+02:00",
        0.6,
        "Alex\u2019s iPhone",
    )
    me.quantity(
        "distance_walking_running",
        "2026-04-01T10:30+02:00",
        "2026-04-01T11:30+02:00",
        0.3,
        "Alex\u2019s Apple\u00a0Watch",
    )
    me.save()
    moved = run(settings, "sources", "priority", "alex's iphone", "1", "--type", "steps")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.splitlines()[0].endswith("Alex\u2019s iPhone")
    for args, first in (
        (("--type", "steps"), "Alex\u2019s iPhone"),
        (("--type", "distance_walking_running"), "Alex\u2019s Apple\u00a0Watch"),
        ((), "Alex\u2019s Apple\u00a0Watch"),
    ):
        listed = json.loads(run(settings, "sources", *args, "--json").stdout)["sources"]
        assert listed[0]["name"] == first, args
    steps = json.loads(run(settings, "stats", "steps", "--json").stdout)["buckets"][0]
    distance = json.loads(run(settings, "stats", "distance_walking_running", "--json").stdout)
    assert steps["sum"]["value"] == 750.0  # the phone first for steps
    assert round(distance["buckets"][0]["sum"]["value"], 6) == 0.6  # the watch still first
    unknown = run(settings, "sources", "priority", "1", "1", "--type", "stepz")
    assert unknown.exit_code == 1 and "Unknown type 'stepz'" in unknown.output


def test_bad_input_gives_a_message_and_exit_1(settings, engine):
    two_sources(engine)
    cases = {
        ("stats", "stepz"): "Unknown type 'stepz'",
        ("stats", "steps", "--from", "2025-01-01", "--to", "2025-01-31"): "no steps data",
        ("sources", "priority", "Fitbit", "1"): "no source called 'Fitbit'",
        ("stats", "--person", "nobody"): "no person called 'nobody'",
    }
    for args, message in cases.items():
        result = run(settings, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    zero = run(settings, "sources", "priority", "Fitbit", "0")
    assert zero.exit_code == 2


def test_usage_errors_exit_2_with_a_message(settings, engine):
    two_sources(engine)
    cases = {
        ("stats", "steps", "--by", "year"): "'year' is not one of 'hour', 'day', 'week', 'month'",
        ("stats", "steps", "--from", "2026-02-30"): "'2026-02-30' is not a date",
        ("stats", "steps", "--explain", "yesterday"): "'yesterday' is not a date",
        ("insights", "--as-of", "1/4"): "'1/4' is not a date",
        ("stats", "steps", "--from", "2026-04-02", "--to", "2026-04-01"): "ends before it starts",
        ("stats", "steps", "--explian", "2026-04-01"): "No such option",
    }
    for args, message in cases.items():
        result = run(settings, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def test_insights_json_has_the_note(settings, engine):
    two_sources(engine)
    result = run(settings, "insights", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["findings"] == [] and "not a diagnosis" in doc["note"]
    assert doc["as_of"] == "2026-04-01" and "steps" in doc["types"]


def test_a_source_can_be_named_by_id_and_odd_digits_are_just_names(settings, engine):
    me = two_sources(engine)
    phone = me.sources["Alex\u2019s iPhone"]
    moved = run(settings, "sources", "priority", str(phone), "1")
    assert moved.exit_code == 0 and moved.stdout.splitlines()[0].endswith("Alex\u2019s iPhone")
    odd = run(settings, "sources", "priority", "\u00b2", "1")
    assert odd.exit_code == 1 and "no source called" in odd.stderr
