"""The shared helpers (tests/smart_support.py) for the research tests, and `run`: the
command line on the test's database."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pytest
from click.testing import CliRunner

from healthpod.cli import cli


@pytest.fixture
def run(tmp_path, database_url):
    """`healthpod ARGS` with the test's home and database; fails unless it exits `code`."""

    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(
            cli,
            ["--home", str(tmp_path / "home"), "--database-url", database_url, *args],
            catch_exceptions=False,
        )
        assert result.exit_code == code, result.output
        return result

    return invoke
