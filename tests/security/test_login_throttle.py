"""Login throttling under attack: parallel guesses, a stranger trying to lock the owner out, and
forged forwarding headers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from starlette.requests import Request
from tests.conftest import as_superuser

from healthpod import accounts
from healthpod.config import Settings
from healthpod.errors import AccessDenied
from healthpod.store import schema
from healthpod.web import auth
from smart_support import PASSWORD, add_person

HTML = {"accept": "text/html"}
NOW = 1_800_000_000_000


@pytest.fixture
def anna(pod):
    return add_person(pod.engine, "anna")


def _attempt(engine, password: str, *, address: str = "198.51.100.1", now: int = NOW) -> str:
    try:
        accounts.authenticate(engine, "anna", password, address=address, now_ms=now)
    except AccessDenied as refused:
        return "locked" if "Too many" in refused.message else "wrong"
    return "in"


def test_parallel_guesses_get_no_more_tries_than_the_limit(engine, anna):
    # 24 guesses at once from different addresses, all at the same instant: only the account's
    # free attempts may reach the password check; every other one finds the account locked.
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(
            pool.map(lambda i: _attempt(engine, f"guess {i}", address=f"203.0.113.{i}"), range(24))
        )
    assert outcomes.count("wrong") == accounts.ACCOUNT_LIMIT, outcomes
    assert outcomes.count("locked") == 24 - accounts.ACCOUNT_LIMIT
    with as_superuser(engine) as conn:
        failures = conn.scalar(
            select(schema.login_throttle.c.failures).where(
                schema.login_throttle.c.key == "account:anna"
            )
        )
    assert failures == accounts.ACCOUNT_LIMIT


def test_parallel_guesses_from_one_address_stop_at_its_limit(engine, pod):
    # Password spraying: one address, many usernames at once.
    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(
            pool.map(
                lambda i: _user_attempt(engine, f"user{i}", "Winter2024!"),
                range(accounts.ADDRESS_LIMIT + 10),
            )
        )
    assert outcomes.count("wrong") == accounts.ADDRESS_LIMIT, outcomes


def _user_attempt(engine, username: str, password: str) -> str:
    try:
        accounts.authenticate(engine, username, password, address="192.0.2.66", now_ms=NOW)
    except AccessDenied as refused:
        return "locked" if "Too many" in refused.message else "wrong"
    return "in"


def test_backoff_doubles_and_stays_bounded(engine, anna):
    now = NOW
    for i in range(accounts.ACCOUNT_LIMIT):
        assert _attempt(engine, f"guess {i}", now=now) == "wrong"
    waits = []
    for _ in range(8):
        with as_superuser(engine) as conn:
            until = conn.scalar(
                select(schema.login_throttle.c.locked_until_ms).where(
                    schema.login_throttle.c.key == "account:anna"
                )
            )
        waits.append(until - now)
        assert _attempt(engine, PASSWORD, now=until - 1) == "locked"
        now = until
        assert _attempt(engine, "another guess", now=now) == "wrong"
    minute = 60_000
    assert waits == [minute // 2, minute, 2 * minute, 4 * minute, 8 * minute] + [15 * minute] * 3


def _login_form(client, username: str, password: str):
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": password},
        headers=HTML,
    )


def test_a_stranger_cannot_lock_the_owner_out_of_a_known_browser(live, anna):
    with live.client() as owner:
        assert _login_form(owner, "anna", PASSWORD).status_code == 303
        assert owner.cookies.get(auth.DEVICE_COOKIE)
        owner.post("/api/logout", json={})
        with live.client() as stranger:
            for i in range(accounts.ACCOUNT_LIMIT + 3):
                _login_form(stranger, "anna", f"guess {i}")
            locked = _login_form(stranger, "anna", PASSWORD)
            assert locked.status_code == 403 and "Too many failed logins" in locked.text
        # The owner's browser, which logged in before, is counted apart and gets in.
        assert _login_form(owner, "anna", PASSWORD).status_code == 303
        assert owner.get("/api/me").json()["username"] == "anna"
    # A browser the owner never used waits like everyone else.
    with live.client() as new_browser:
        assert _login_form(new_browser, "anna", PASSWORD).status_code == 403


def test_a_device_cookie_is_only_good_for_its_own_account(live, pod, anna):
    add_person(pod.engine, "mallory")
    with live.client() as mallory:
        assert _login_form(mallory, "mallory", PASSWORD).status_code == 303
        mallory.post("/api/logout", json={})
        # Mallory's own device cookie does not exempt guesses at anna's password.
        for i in range(accounts.ACCOUNT_LIMIT):
            assert _login_form(mallory, "anna", f"guess {i}").status_code == 403
        assert "Too many" in _login_form(mallory, "anna", "one more").text
    with live.client() as forger:
        forger.cookies.set(auth.DEVICE_COOKIE, "eyJ1IjoiYW5uYSIsImQiOiJ4In0.forged.sig")
        assert "Too many" in _login_form(forger, "anna", PASSWORD).text


# --- the client's address behind a reverse proxy -------------------------------------------


def _request(settings: Settings, peer: str, forwarded: list[str]) -> Request:
    class App:
        class state:
            pass

    App.state.settings = settings  # type: ignore[attr-defined]
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "app": App, "client": (peer, 5555), "headers": headers})


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ((), "203.0.113.5", ["198.51.100.9"], "203.0.113.5"),  # no proxies: never read
        (("10.0.0.1",), "203.0.113.5", ["198.51.100.9"], "203.0.113.5"),  # not from the proxy
        (("10.0.0.1",), "10.0.0.1", ["198.51.100.9"], "198.51.100.9"),
        (("10.0.0.1",), "10.0.0.1", ["6.6.6.6, 198.51.100.9"], "198.51.100.9"),  # forged left
        (("10.0.0.0/24",), "10.0.0.1", ["198.51.100.9, 10.0.0.7"], "198.51.100.9"),  # two hops
        (("10.0.0.1",), "10.0.0.1", ["6.6.6.6", "198.51.100.9"], "198.51.100.9"),  # two headers
        (("10.0.0.1",), "10.0.0.1", ["not-an-ip"], "10.0.0.1"),
        (("10.0.0.1",), "10.0.0.1", ["198.51.100.9, junk"], "10.0.0.1"),
        (("10.0.0.1",), "10.0.0.1", [], "10.0.0.1"),
        (("::1",), "::1", ["2001:db8::5"], "2001:db8::5"),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(
    tmp_path, trusted, peer, forwarded, client
):
    settings = Settings(home=tmp_path, trusted_proxies=trusted)
    assert auth.client_address(_request(settings, peer, forwarded)) == client


def test_a_bad_trusted_proxy_setting_names_the_variable(tmp_path):
    from healthpod.config import load_settings
    from healthpod.errors import ConfigError

    with pytest.raises(ConfigError, match="HEALTHPOD_TRUSTED_PROXIES"):
        load_settings(home=tmp_path, trusted_proxies="10.0.0.1, proxy.internal")
    assert load_settings(home=tmp_path, trusted_proxies="10.0.0.1, fd00::/8").trusted_proxies


def _address_keys(pod) -> set[str]:
    with as_superuser(pod.engine) as conn:
        keys = conn.scalars(select(schema.login_throttle.c.key)).all()
    return {k for k in keys if k.startswith("address:")}


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(live_with, pod, anna):
    untrusted = live_with()
    with untrusted.client() as client:
        page = client.get("/login", headers=HTML)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        for fake in ("198.51.100.1", "198.51.100.2"):
            client.post(
                "/login",
                data={"csrf_token": token.group(1), "username": "anna", "password": "x"},
                headers={**HTML, "x-forwarded-for": fake},
            )
    assert _address_keys(pod) == {"address:127.0.0.1"}  # the header was ignored

    behind_proxy = live_with(trusted_proxies=("127.0.0.1",))
    with behind_proxy.client() as client:
        page = client.get("/login", headers=HTML)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        for forwarded in ("198.51.100.7", "6.6.6.6, 198.51.100.8"):
            client.post(
                "/login",
                data={"csrf_token": token.group(1), "username": "anna", "password": "x"},
                headers={**HTML, "x-forwarded-for": forwarded},
            )
    assert _address_keys(pod) == {
        "address:127.0.0.1",
        "address:198.51.100.7",
        "address:198.51.100.8",
    }
