"""Zone-less sources (Fitbit, Google Fit) read in the person's zone: `--tz` or the pod setting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.ingest import zones
from healthpod.store import schema

GOOGLE_FIT = Path(__file__).parents[1] / "data" / "shimmer" / "googlefit"
NO_ZONE = "stored with offset +00:00"


def run(settings, *args: str):
    base = ["--home", str(settings.home), "--database-url", settings.database_url]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


@pytest.fixture
def fitbit_minutes(tmp_path) -> Path:
    """A Fitbit export file with one winter and one summer minute, written without a zone."""
    path = tmp_path / "distance.json"
    path.write_text(
        json.dumps(
            [
                {"dateTime": "01/15/18 12:00:00", "value": "100"},
                {"dateTime": "07/15/18 12:00:00", "value": "200"},
            ]
        )
    )
    return path


def stored(engine) -> list[tuple[str, int]]:
    """(UTC instant, offset) of each stored sample, in time order."""
    q = schema.quantity_samples
    with as_superuser(engine) as conn:
        rows = conn.execute(select(q.c.start_ms, q.c.start_offset_min).order_by(q.c.start_ms))
        return [
            (datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M"), offset)
            for ms, offset in rows
        ]


def test_tz_reads_fitbit_wall_clock_times_with_each_instant_s_offset(
    settings, engine, fitbit_minutes
):
    result = run(settings, "import", str(fitbit_minutes), "--tz", "Europe/Stockholm", "--json")
    assert result.exit_code == 0, result.stderr
    assert NO_ZONE not in result.stderr  # the zone is known: no warning
    assert json.loads(result.stdout)["warnings"] == []
    # 12:00 in Stockholm is 11:00 UTC in winter (+01:00) and 10:00 UTC in summer (+02:00).
    assert stored(engine) == [("2018-01-15 11:00", 60), ("2018-07-15 10:00", 120)]


def test_the_pod_setting_is_the_default_and_tz_overrides_it(
    settings, engine, fitbit_minutes, tmp_path
):
    assert run(settings, "settings", "set", "timezone", "America/New_York").exit_code == 0
    assert json.loads(run(settings, "settings", "--json").stdout) == {
        "timezone": "America/New_York",
        "language": None,
    }
    assert run(settings, "import", str(fitbit_minutes)).exit_code == 0
    assert stored(engine) == [("2018-01-15 17:00", -300), ("2018-07-15 16:00", -240)]
    other = tmp_path / "other" / "distance.json"
    other.parent.mkdir()
    other.write_text(json.dumps([{"dateTime": "03/01/18 08:00:00", "value": "5"}]))
    assert run(settings, "import", str(other), "--tz", "Asia/Kolkata").exit_code == 0
    assert ("2018-03-01 02:30", 330) in stored(engine)


def test_without_a_zone_the_times_stay_at_utc_with_a_warning_that_says_how(
    settings, engine, fitbit_minutes
):
    result = run(settings, "import", str(fitbit_minutes))
    assert result.exit_code == 0
    assert NO_ZONE in result.stderr and "--tz" in result.stderr
    assert stored(engine) == [("2018-01-15 12:00", 0), ("2018-07-15 12:00", 0)]


def test_google_fit_instants_keep_their_time_and_get_the_zone_s_offset(settings, engine):
    path = GOOGLE_FIT / "googlefit-merge-step-deltas.json"
    result = run(settings, "import", str(path), "--tz", "Europe/Stockholm")
    assert result.exit_code == 0, result.stderr
    points = json.loads(path.read_text())["point"]
    q = schema.quantity_samples
    with as_superuser(engine) as conn:
        rows = dict(conn.execute(select(q.c.start_ms, q.c.start_offset_min)).all())
    zone = ZoneInfo("Europe/Stockholm")
    expected = {}
    for point in points:
        ms = int(point["startTimeNanos"]) // 1_000_000
        moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
        expected[ms] = int(moment.utcoffset().total_seconds() // 60)
    assert {ms: rows[ms] for ms in expected if ms in rows} == {
        ms: offset for ms, offset in expected.items() if ms in rows
    }
    assert {60, 120} <= set(rows.values())  # a winter and a summer day in the file


def test_a_zone_that_does_not_exist_is_a_usage_error_and_nothing_is_stored(
    settings, engine, fitbit_minutes
):
    for args in (
        ("import", str(fitbit_minutes), "--tz", "Stockholm"),
        ("settings", "set", "timezone", "Mars/Olympus"),
        ("import", str(fitbit_minutes), "--tz", "../../etc/passwd"),
    ):
        result = run(settings, *args)
        assert result.exit_code == 2, (args, result.output)
        assert "is not a time zone" in result.stderr and "Europe/Stockholm" in result.stderr
    with as_superuser(engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == 0
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0


def test_settings_on_an_empty_pod_and_unset(settings, engine):
    shown = run(settings, "settings")
    assert shown.exit_code == 0 and "timezone: not set" in shown.stdout
    assert run(settings, "settings", "unset", "timezone").exit_code == 0
    run(settings, "settings", "set", "timezone", "Europe/Stockholm")
    assert run(settings, "settings", "unset", "timezone").exit_code == 0
    assert json.loads(run(settings, "settings", "--json").stdout) == {
        "timezone": None,
        "language": None,
    }


def test_the_language_is_set_checked_and_unset(settings, engine):
    assert "language: not set (the pod default, en)" in run(settings, "settings").stdout
    assert run(settings, "settings", "set", "language", "sv").stdout == "language: sv\n"
    assert json.loads(run(settings, "settings", "--json").stdout)["language"] == "sv"
    refused = run(settings, "settings", "set", "language", "de")
    assert refused.exit_code == 2 and "'de' is not one of en, sv" in refused.output
    refused = run(settings, "settings", "set", "timezone", "Mars/Olympus")
    assert refused.exit_code == 2
    assert json.loads(run(settings, "settings", "--json").stdout) == {
        "timezone": None,
        "language": "sv",
    }
    assert run(settings, "settings", "unset", "language").exit_code == 0
    assert json.loads(run(settings, "settings", "--json").stdout)["language"] is None


def test_the_hour_a_clock_goes_back_reads_as_its_first_pass():
    with zones.assumed_zone(ZoneInfo("Europe/Stockholm")):
        ms = zones.wall_clock_ms(datetime(2018, 10, 28, 2, 30))
        assert (ms, zones.offset_min_at(ms)) == (
            int(datetime(2018, 10, 28, 0, 30, tzinfo=UTC).timestamp() * 1000),
            120,
        )
    assert zones.offset_min_at(ms) == 0  # outside the block: no zone


def test_a_withings_payload_without_its_zone_gets_the_one_given(settings, engine):
    path = Path(__file__).parents[1] / "data" / "shimmer" / "withings"
    result = run(
        settings, "import", str(path / "withings-intraday-activity.json"), "--tz", "US/Pacific"
    )
    assert result.exit_code == 0, result.stderr
    assert "payload names no time zone" not in result.stderr
    offsets = {offset for _, offset in stored(engine)}
    assert offsets == {-420}  # June 2015: Pacific daylight time
