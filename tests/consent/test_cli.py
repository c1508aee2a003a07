"""The CLI of accounts, actors, consents and the access log, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.consent import Scope, store
from healthpod.consent.actors import new_client_id
from healthpod.pod import now_ms
from healthpod.store import persons, schema

NOW = now_ms() - 60_000  # the CLI decides states at the real clock


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


def test_account_create_reads_the_password_from_stdin(run, engine):
    out = run("account", "create", "Alice", "--password-stdin", "--json", input="long secret 1\n")
    assert json.loads(out.stdout)["username"] == "alice"
    with as_superuser(engine) as conn:
        stored = conn.scalar(select(schema.accounts.c.password_hash))
    assert "long secret" not in stored
    assert "alice" in run("account", "list").stdout
    again = run("account", "create", "bob", "--password-stdin", input="long secret 2\n", code=1)
    assert "already has an account" in again.stderr and "--person" in again.stderr
    short = run(
        "account",
        "create",
        "carol",
        "--person",
        "carol",
        "--password-stdin",
        input="short\n",
        code=2,
    )
    assert "too short" in short.stderr


def test_client_ids_can_be_typed_as_command_arguments():
    # A url-safe id starts with "-" one time in 64; `actor disable ID` then reads it as an option.
    ids = {new_client_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[0-9a-f]{32}", client_id) for client_id in ids)


def test_actor_secret_is_shown_once_and_only_for_confidential_clients(run, engine):
    base = [
        "actor",
        "add",
        "--kind",
        "coach",
        "--purpose",
        "CAREMGT",
        "--redirect-uri",
        "https://coach.example/cb",
        "--json",
    ]
    confidential = json.loads(run(*base, "--name", "Coach Anna").stdout)
    public = json.loads(run(*base, "--name", "Step App", "--public").stdout)
    assert set(confidential) == {"client_id", "client_secret"}
    assert set(public) == {"client_id"}
    listed = run("actor", "list", "--json").stdout
    assert confidential["client_secret"] not in listed
    with as_superuser(engine) as conn:
        hashes = conn.scalars(select(schema.actors.c.client_secret_hash)).all()
    assert confidential["client_secret"] not in str(hashes)
    run("actor", "disable", confidential["client_id"])
    [anna] = [
        a for a in json.loads(run("actor", "list", "--json").stdout) if a["name"] == "Coach Anna"
    ]
    assert anna["disabled_ms"] is not None
    bad = run(
        "actor",
        "add",
        "--name",
        "X",
        "--kind",
        "app",
        "--purpose",
        "TREAT",
        "--redirect-uri",
        "http://evil.example/cb",
        code=2,
    )
    assert "plain http" in bad.stderr
    assert run("actor", "disable", "nope", code=1).stderr.startswith("Error: No actor")


@pytest.fixture
def granted(run, engine):
    run("account", "create", "alice", "--password-stdin", input="long secret 1\n")
    out = json.loads(
        run(
            "actor",
            "add",
            "--name",
            "Coach Anna",
            "--kind",
            "coach",
            "--purpose",
            "CAREMGT",
            "--redirect-uri",
            "https://c.example/cb",
            "--json",
        ).stdout
    )
    with as_superuser(engine) as conn:
        me = persons.find(conn, "me")
        assert me is not None
        actor = conn.scalar(
            select(schema.actors.c.id).where(schema.actors.c.client_id == out["client_id"])
        )
        consent = store.grant(
            conn, me, actor, Scope(frozenset({"heart"})), valid_until_ms=None, now_ms=NOW
        )
    return consent


def test_consent_list_show_revoke(run, granted):
    [listed] = json.loads(run("consent", "list", "--json").stdout)
    assert listed["id"] == granted.id and listed["state"] == "active"
    assert listed["actor"]["name"] == "Coach Anna"
    shown = json.loads(run("consent", "show", str(granted.id), "--json").stdout)
    assert [h["change"] for h in shown["history"]] == ["granted"]
    receipt = json.loads(run("consent", "show", str(granted.id), "--receipt").stdout)
    assert receipt["version"] == "KI-CR-v1.1.0"
    fhir = json.loads(run("consent", "show", str(granted.id), "--fhir").stdout)
    assert fhir["resourceType"] == "Consent" and fhir["status"] == "active"
    revoked = json.loads(run("consent", "revoke", str(granted.id), "--json").stdout)
    assert revoked["state"] == "revoked"
    assert "already revoked" in run("consent", "revoke", str(granted.id), code=1).stderr
    assert "no consent with id 999" in run("consent", "show", "999", code=1).stderr
    assert "no consent with id" in run("consent", "revoke", str(2**70), code=1).stderr
    assert "no person called 'zed'" in run("consent", "list", "--person", "zed", code=1).stderr


def test_log_shows_and_verifies_and_names_an_altered_entry(run, engine, granted):
    run("consent", "revoke", str(granted.id))
    entries = json.loads(run("log", "--json").stdout)
    assert [e["event"] for e in entries] == ["consent.revoked", "consent.granted"]
    shown = run("log").stdout
    assert "consent.granted" in shown and "Coach Anna" in shown
    # The person revoked it: the line is theirs, not the coach's.
    [revoked] = [line for line in shown.splitlines() if "consent.revoked" in line]
    assert re.search(r"Z  you\s+consent.revoked", revoked) and "(Coach Anna)" in revoked
    assert [e["done_by"] for e in entries] == ["person", "person"]
    assert "intact: 2 entries" in run("log", "verify").stdout
    with as_superuser(engine) as conn:
        conn.execute(
            update(schema.access_log)
            .where(schema.access_log.c.seq == 1)
            .values(reason="consent 1 granted: everything")
        )
    broken = run("log", "verify", code=1)
    assert "entry 1" in broken.stdout and "changed after it was written" in broken.stdout
    [result] = json.loads(run("log", "verify", "--json", code=1).stdout)
    assert result["first_broken_seq"] == 1 and not result["ok"]
    every = run("log", "verify", "--all", code=1).stdout
    assert "me: The access log is broken" in every


def test_log_verify_names_a_cut_tail_whose_head_was_set_back(run, engine, granted):
    from sqlalchemy import text

    run("consent", "revoke", str(granted.id))
    assert "intact: 2 entries" in run("log", "verify").stdout
    with as_superuser(engine) as conn:  # by direct SQL, without the key: the revocation is gone
        conn.execute(text("DELETE FROM access_log WHERE seq = 2"))
        conn.execute(
            text(
                "UPDATE access_log_heads SET seq = 1, "
                "hash = (SELECT hash FROM access_log WHERE seq = 1)"
            )
        )
    broken = run("log", "verify", code=1).stdout
    assert "rewritten without the key: entries after 1 were cut" in broken
    [result] = json.loads(run("log", "verify", "--json", code=1).stdout)
    assert result["first_broken_seq"] == 2 and result["entries"] == 1


def test_account_password_and_disable(run, engine):
    from healthpod import accounts
    from healthpod.errors import AccessDenied

    run("account", "create", "alice", "--password-stdin", input="long secret 1\n")
    run("account", "password", "ALICE", "--password-stdin", input="long secret 2\n")
    assert accounts.authenticate(engine, "alice", "long secret 2", address="t", now_ms=NOW)
    assert (
        "too short"
        in run("account", "password", "alice", "--password-stdin", input="x\n", code=2).stderr
    )
    run("account", "disable", "alice")
    with pytest.raises(AccessDenied, match="disabled"):
        accounts.authenticate(engine, "alice", "long secret 2", address="t", now_ms=NOW)
    assert "No account called 'zed'" in run("account", "disable", "zed", code=1).stderr
    assert "(disabled)" in run("account", "list").stdout
