"""The demo lives apart: its own home, never a person's pod, a banner on every page."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod import demo
from healthpod.cli import cli
from healthpod.config import default_data_dir, default_demo_dir
from healthpod.ingest.run import import_file
from healthpod.pod import DEMO_MARKER
from healthpod.store import schema

ROOT = Path(__file__).parents[1]
APPLE_EXPORT = Path(__file__).parent / "data" / "apple" / "healthkit-to-sqlite" / "export.xml"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a person with no healthpod settings, their data folder under tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPOD_")}
    return {**env, "XDG_DATA_HOME": str(tmp_path / "xdg"), **extra}


def make_demo_command(port: int) -> list[str]:
    """The command `make demo PORT=…` runs, as make prints it."""
    printed = subprocess.run(
        ["make", "-n", "demo", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = [line for line in printed.splitlines() if "healthpod demo" in line]
    words = shlex.split(line)
    assert words[0] == ".venv/bin/healthpod", line
    return [sys.executable, "-m", "healthpod", *words[1:]]


def home_of(output: str) -> Path:
    match = re.search(
        r"(?:Pod ready in|Demo pod ready in|Reusing the demo pod in) (\S+?)[ .]", output
    )
    assert match, output
    return Path(match.group(1))


def test_make_demo_and_init_never_share_a_folder(tmp_path):
    command = make_demo_command(8123)
    assert "--port" in command and "8123" in command
    assert not any(word.startswith("--home") for word in command)
    homes = {}
    for name, env in {
        "default": clean_env(tmp_path),
        "HEALTHPOD_HOME": clean_env(tmp_path, HEALTHPOD_HOME=str(tmp_path / "mine")),
    }.items():
        init = subprocess.run(
            [sys.executable, "-m", "healthpod", "init"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        homes[name] = home_of(init.stdout)
    assert homes["HEALTHPOD_HOME"] == tmp_path / "mine"
    # The demo ignores HEALTHPOD_HOME: it names the person's own pod.
    made = subprocess.run(
        [*command, "--no-serve"],
        env=clean_env(tmp_path, HEALTHPOD_HOME=str(tmp_path / "mine")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    demo_home = home_of(made.stdout)
    assert (demo_home / DEMO_MARKER).exists()
    assert f"healthpod --home {demo_home} stats" in made.stdout  # how to reach it
    for home in homes.values():
        assert home != demo_home
        assert home not in demo_home.parents and demo_home not in home.parents
        assert not (home / DEMO_MARKER).exists()
        with sqlite3.connect(home / "healthpod.db") as db:  # the demo put nothing here
            assert db.execute("SELECT count(*) FROM imports").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM persons").fetchone() == (0,)


def test_the_demo_folder_is_not_the_default_home():
    assert default_demo_dir() != default_data_dir()
    assert default_data_dir() not in default_demo_dir().parents
    assert default_demo_dir() not in default_data_dir().parents


def test_the_demo_refuses_a_pod_that_holds_real_data(pod, tmp_path):
    import_file(pod, APPLE_EXPORT)
    with as_superuser(pod.engine) as conn:
        before = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
    where = ["--home", str(pod.settings.home), "--database-url", pod.settings.database_url]
    result = CliRunner().invoke(cli, [*where, "demo", "--no-serve"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "holds data that the demo did not put there" in result.stderr
    assert "without --home" in result.stderr
    with as_superuser(pod.engine) as conn:
        after = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
        assert conn.scalar(select(func.count()).select_from(schema.accounts)) == 0
    assert after == before
    assert not (pod.settings.home / DEMO_MARKER).exists()


def test_the_demo_refuses_the_default_home_even_empty(tmp_path):
    env = clean_env(tmp_path)
    result = CliRunner().invoke(
        cli,
        ["--home", str(tmp_path / "xdg" / "healthpod"), "demo", "--no-serve"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert "where your own pod lives" in result.stderr
    assert not (tmp_path / "xdg" / "healthpod" / DEMO_MARKER).exists()


def test_a_claimed_pod_is_the_demo_and_others_are_not(pod):
    assert not pod.is_demo
    demo.claim(pod)
    assert pod.is_demo
    demo.claim(pod)  # the demo's own pod: claimed again without complaint
    (pod.settings.home / DEMO_MARKER).write_text("sqlite:///elsewhere.db\n")
    pod.__dict__.pop("is_demo")
    assert not pod.is_demo  # the marker names another database
