"""Accounts on SQLite and PostgreSQL: argon2id, and who must NOT get in (throttling included)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod import accounts
from healthpod.consent import audit
from healthpod.errors import AccessDenied, Conflict, InvalidRequest
from healthpod.keys import access_log_key
from healthpod.store import rls, schema
from healthpod.store.engine import make_engine

NOW = 1_800_000_000_000
MINUTE = 60_000


@pytest.fixture
def alice(engine, pod):
    with engine.begin() as conn:
        person = pod.person_id("alice", connection=conn)
        accounts.create_account(
            conn, "Alice", "correct horse battery", person_id=person, now_ms=NOW
        )
    return person


def login(engine, username="alice", password="correct horse battery", address="10.0.0.1", now=NOW):
    return accounts.authenticate(engine, username, password, address=address, now_ms=now)


def test_password_is_stored_as_argon2id_and_checked(engine, alice):
    with as_superuser(engine) as conn:
        stored = conn.scalar(select(schema.accounts.c.password_hash))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert login(engine) == alice
    assert login(engine, username="  ALICE ") == alice


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password"),
        ("mallory", "correct horse battery"),
        ("alice", ""),
        ("ali\x00ce", "correct horse battery"),  # PostgreSQL refuses NUL in text
        ("alice", "correct horse\x00battery"),
    ],
)
def test_wrong_credentials_get_one_message(engine, alice, username, password):
    with pytest.raises(AccessDenied, match=r"^Wrong username or password\. Check"):
        login(engine, username, password)


def test_an_account_backs_off_after_repeated_failures_even_for_the_right_password(engine, alice):
    for i in range(accounts.ACCOUNT_LIMIT):
        with pytest.raises(AccessDenied, match="Wrong"):
            login(engine, password=f"guess {i}", address=f"10.0.0.{i}", now=NOW + i)
    with pytest.raises(AccessDenied, match=r"Too many failed logins for this account.*30 seconds"):
        login(engine, now=NOW + 10)
    # The wait ends; the next failure waits twice as long.
    with pytest.raises(AccessDenied, match="Wrong"):
        login(engine, password="wrong again", now=NOW + 31_000)
    with pytest.raises(AccessDenied, match=r"for this account.*59 seconds"):
        login(engine, now=NOW + 32_000)
    # The right password after the wait gets in, and a success resets the count.
    assert login(engine, now=NOW + 2 * MINUTE) == alice
    with pytest.raises(AccessDenied, match="Wrong"):
        login(engine, password="again wrong", now=NOW + 3 * MINUTE)
    assert login(engine, now=NOW + 3 * MINUTE + 1) == alice


def test_an_address_is_locked_across_usernames(engine, alice, monkeypatch):
    monkeypatch.setattr(accounts, "ADDRESS_LIMIT", 3)
    for name in ("bob", "carol", "dave"):
        with pytest.raises(AccessDenied, match="Wrong"):
            login(engine, username=name, address="203.0.113.9")
    with pytest.raises(AccessDenied, match="Too many failed logins for your address"):
        login(engine, address="203.0.113.9", now=NOW + 1)
    assert login(engine, address="198.51.100.7", now=NOW + 1) == alice


def test_workers_share_the_counts(engine, pod, alice, database_url):
    # A second engine is what a second worker process has: the counts live in the database.
    other = make_engine(database_url)
    audit.use_key(other, access_log_key(pod.settings))
    try:
        for i in range(accounts.ACCOUNT_LIMIT):
            worker = engine if i % 2 else other
            with pytest.raises(AccessDenied, match="Wrong"):
                login(worker, password=f"guess {i}", now=NOW + i)
        with pytest.raises(AccessDenied, match="Too many"):
            login(other, now=NOW + 10)
    finally:
        other.dispose()


def test_logins_appear_in_the_persons_access_log(engine, alice):
    login(engine)
    with pytest.raises(AccessDenied):
        login(engine, password="not it", address="192.0.2.5")
    with engine.connect() as conn:
        entries = audit.entries(conn, alice)
    assert [(e.event, e.outcome) for e in entries] == [("login", "ok"), ("login", "failed")]
    assert entries[1].details == {"address": "192.0.2.5"}


def test_a_disabled_account_cannot_log_in(engine, alice):
    from sqlalchemy import update

    with as_superuser(engine) as conn:
        rls.act_for(conn, alice)
        conn.execute(update(schema.accounts).values(disabled_ms=NOW))
    with pytest.raises(AccessDenied, match="disabled"):
        login(engine)


def test_bad_accounts_are_refused(engine, pod, alice):
    with engine.begin() as conn:
        bob = pod.person_id("bob", connection=conn)
        with pytest.raises(Conflict, match="taken"):
            accounts.create_account(conn, "ALICE", "long enough pw", person_id=bob, now_ms=NOW)
        with pytest.raises(Conflict, match="already has an account"):
            accounts.create_account(conn, "alice2", "long enough pw", person_id=alice, now_ms=NOW)
        with pytest.raises(InvalidRequest, match="too short"):
            accounts.create_account(conn, "bob", "short", person_id=bob, now_ms=NOW)
        for bad in ("", " ", "-x", "a b", "x" * 101, "<script>"):
            with pytest.raises(InvalidRequest, match="not a valid username"):
                accounts.create_account(conn, bad, "long enough pw", person_id=bob, now_ms=NOW)
