from __future__ import annotations

import json

from click.testing import CliRunner

from healthpod.cli import cli


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
