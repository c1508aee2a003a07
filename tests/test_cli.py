from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from healthpod.cli import cli
from healthpod.store import schema
from healthpod.store.engine import make_engine


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_init_creates_a_pod_in_home(tmp_path):
    result = run("--home", str(tmp_path / "pod"), "init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pod" / "healthpod.db").exists()
    status = run("--home", str(tmp_path / "pod"), "db", "status", "--json")
    assert json.loads(status.stdout)["up_to_date"] is True


def test_home_from_environment(tmp_path):
    result = run("init", env={"HEALTHPOD_HOME": str(tmp_path / "envpod")})
    assert result.exit_code == 0
    assert (tmp_path / "envpod" / "healthpod.db").exists()


def test_bad_setting_names_the_variable_and_exits_2(tmp_path):
    result = run("--home", str(tmp_path), "db", "status", env={"HEALTHPOD_LOG_LEVEL": "LOUD"})
    assert result.exit_code == 2
    assert "HEALTHPOD_LOG_LEVEL" in result.stderr


def test_commands_on_a_missing_pod_say_run_init(tmp_path):
    result = run("--home", str(tmp_path), "db", "upgrade")
    assert result.exit_code == 0


@pytest.fixture
def empty_pod(tmp_path, database_url):
    """A pod as `healthpod init` leaves it: a schema, no person, no data."""

    def invoke(*args: str):
        base = ["--home", str(tmp_path / "home"), "--database-url", database_url]
        return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


REPORTS = {
    ("stats",): "No data yet",
    ("insights",): "No findings",
    ("sources",): "No sources yet",
    ("log",): "Nothing in the access log yet",
    ("log", "verify"): "The access log is intact: 0 entries",
    ("consent", "list"): "You have given no consents",
    ("imports",): "No imports yet",
}


def test_every_report_on_an_empty_pod_says_nothing_yet(empty_pod):
    for args, words in REPORTS.items():
        result = empty_pod(*args)
        assert result.exit_code == 0, (args, result.output)
        assert words in result.stdout, (args, result.stdout)
        assert result.stderr == "", (args, result.stderr)


def test_every_report_on_an_empty_pod_gives_empty_json(empty_pod):
    empty = {
        "stats": {"types": {}},
        "sources": {"sources": []},
        "log": [],
        "consent list": [],
        "imports": {"imports": []},
    }
    for command, document in empty.items():
        result = empty_pod(*command.split(), "--json")
        assert result.exit_code == 0, (command, result.output)
        assert json.loads(result.stdout) == document, command
    insights = json.loads(empty_pod("insights", "--json").stdout)
    assert insights["findings"] == [] and insights["types"] == {}
    (verified,) = json.loads(empty_pod("log", "verify", "--json").stdout)
    assert verified["ok"] is True and verified["entries"] == 0


def test_an_empty_pod_stays_empty_after_reports(empty_pod, database_url):
    for args in REPORTS:
        empty_pod(*args)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 0
    engine.dispose()


def test_questions_an_empty_pod_cannot_answer_say_import_first(empty_pod):
    for args in (("stats", "steps"), ("sources", "priority", "Watch", "1")):
        result = empty_pod(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "no data in this pod yet" in result.stderr and "healthpod import" in result.stderr
    missing = empty_pod("consent", "show", "1")
    assert missing.exit_code == 1 and "no consent with id 1" in missing.stderr
    # A name given with --person that is not here is still an error (a typo, most likely).
    anna = empty_pod("stats", "--person", "anna")
    assert anna.exit_code == 1 and "no person called 'anna'" in anna.stderr
