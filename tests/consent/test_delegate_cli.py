"""`healthpod delegate add|list|revoke`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from healthpod.cli import cli


@pytest.fixture
def run(tmp_path, database_url):
    def invoke(*args: str, input: str | None = None, code: int = 0):
        result = CliRunner().invoke(
            cli,
            ["--home", str(tmp_path / "home"), "--database-url", database_url, *args],
            input=input,
            catch_exceptions=False,
        )
        assert result.exit_code == code, result.output
        return result

    return invoke


@pytest.fixture
def accounts(run):
    for name, person in (("anna", "me"), ("erik", "erik"), ("mamma", "mamma")):
        run(
            "account",
            "create",
            name,
            "--person",
            person,
            "--password-stdin",
            input="long secret 1\n",
        )


def test_add_list_and_revoke_a_delegate(run, accounts):
    made = json.loads(
        run("delegate", "add", "erik", "--role", "manage", "--until", "2099-06-30", "--json").stdout
    )
    assert (made["other"], made["role"], made["state"]) == ("erik", "manage", "active")
    assert made["last_day"] == "2099-06-30"
    listed = json.loads(run("delegate", "list", "--json").stdout)
    assert [(d["id"], d["direction"]) for d in listed] == [(made["id"], "given")]
    held = json.loads(run("delegate", "list", "--person", "erik", "--json").stdout)
    assert [(d["other"], d["direction"]) for d in held] == [("anna", "held")]
    assert "erik acts for you" in run("delegate", "list").stdout
    run("delegate", "revoke", str(made["id"]))
    assert json.loads(run("delegate", "list", "--json").stdout)[0]["state"] == "revoked"
    again = run("delegate", "revoke", str(made["id"]), code=1)
    assert "revoked already" in again.stderr


def test_a_guardian_until_the_age_limit(run, accounts):
    made = json.loads(
        run(
            "delegate",
            "add",
            "mamma",
            "--guardian",
            "--born",
            "2020-02-29",
            "--role",
            "manage",
            "--json",
        ).stdout
    )
    assert made["kind"] == "guardian"
    assert made["last_day"] == "2033-02-27"  # the day before 28 February 2033, at 13
    late = run(
        "delegate", "add", "mamma", "--guardian", "--born", "2001-01-01", "--person", "erik", code=2
    )
    assert "a guardian no longer acts for them" in late.stderr
    none = run("delegate", "add", "anna", "--guardian", "--person", "mamma", code=2)
    assert "birth date" in none.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["anna"], 2, "You cannot delegate to yourself."),
        (["nobody"], 1, "There is no account called 'nobody'"),
        (["erik", "--until", "2001-01-01"], 2, "The end date has passed."),
        (["erik", "--until", "tomorrow"], 2, "--until 'tomorrow' is not a date."),
        (["erik", "--role", "owner"], 2, "Invalid value for '--role'"),
    ],
)
def test_bad_delegations_say_why_and_store_nothing(run, accounts, args, code, says):
    result = run("delegate", "add", *args, code=code)
    assert says in result.stderr
    assert json.loads(run("delegate", "list", "--json").stdout) == []
