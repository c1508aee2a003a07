from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

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
    ("log", "verify", "--all"): "No access log yet",
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
    with as_superuser(engine) as conn:
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


def command_paths() -> list[list[str]]:
    """Every command and subcommand, as the words typed after `healthpod`."""

    def walk(command: click.Command, path: list[str]) -> Iterator[list[str]]:
        yield path
        if isinstance(command, click.Group):
            with click.Context(command) as ctx:
                for name in command.list_commands(ctx):
                    sub = command.get_command(ctx, name)
                    assert sub is not None
                    yield from walk(sub, [*path, name])

    return list(walk(cli, []))


def healthpod(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed command in a process of its own, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "healthpod", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_every_command_takes_dash_h(tmp_path):
    paths = command_paths()
    assert ["import"] in paths and ["log", "verify"] in paths
    # One process runs `main()` once per command, as the installed script does: `import`
    # parses its arguments early (`prestart_for`), which once cost it its -h.
    script = (
        "import json, sys\n"
        "from healthpod.cli import main\n"
        "codes = []\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    sys.argv = ['healthpod', *path, '-h']\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        codes.append(exc.code)\n"
        "print(json.dumps(codes), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HEALTHPOD_HOME": str(tmp_path)},
    )
    codes = json.loads(result.stderr.splitlines()[-1])
    assert codes == [0] * len(paths), result.stderr
    for path in paths:
        assert f"Usage: healthpod {' '.join(path)}".rstrip() in result.stdout, path


def test_a_taken_port_is_one_message_with_a_hint_and_exit_3(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in ("serve", "demo"):
            result = healthpod("--home", str(tmp_path / "pod"), command, "--port", str(port))
            assert result.returncode == 3, (command, result.stdout, result.stderr)
            assert result.stderr.splitlines() == [
                f"Error: Port {port} on 127.0.0.1 is already in use by another program.",
                "Stop that program (perhaps another healthpod), or choose a free port: "
                "--port 8000.",
            ]
            assert "serving" not in result.stdout
    assert not (tmp_path / "pod").exists()  # refused before the demo built anything
