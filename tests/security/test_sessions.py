"""Sessions and CSRF tokens attacked over real HTTP: copied cookies, fixation, stolen tokens.

A stolen session cookie must die at logout, a login must never keep a session id the browser
had before, and a CSRF token is only good for the session it was made for.
"""

from __future__ import annotations

import re

import pytest
from pydantic import AnyHttpUrl
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.store import schema
from healthpod.web import session
from smart_support import PASSWORD, add_person, login_with_form

HTML = {"accept": "text/html"}


@pytest.fixture
def anna(pod):
    return add_person(pod.engine, "anna")


def _token(client, path: str = "/settings") -> str:
    html = client.get(path, headers=HTML, follow_redirects=True).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def _logout(client, token: str):
    return client.post("/logout", data={"csrf_token": token}, headers=HTML)


def _sessions(pod) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.web_sessions)))


def test_logout_kills_a_copied_cookie(live, anna):
    with live.client() as owner, live.client() as thief:
        login_with_form(owner, "anna", PASSWORD)
        thief.cookies.set(session.COOKIE, owner.cookies[session.COOKIE])
        assert thief.get("/api/me").status_code == 200
        assert thief.get("/settings", headers=HTML).status_code == 200
        out = _logout(owner, _token(owner))
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert thief.get("/api/me").status_code == 403
        page = thief.get("/settings", headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert _sessions(live.pod) == 0


def test_api_logout_kills_a_copied_cookie(live, anna):
    with live.client() as owner, live.client() as thief:
        login = owner.post("/api/login", json={"username": "anna", "password": PASSWORD})
        assert login.status_code == 200, login.text
        thief.cookies.set(session.COOKIE, owner.cookies[session.COOKIE])
        assert thief.get("/api/me").status_code == 200
        assert owner.post("/api/logout", json={}).status_code == 200
        assert thief.get("/api/me").status_code == 403


def _session_of(response) -> str:
    for cookie in response.headers.get_list("set-cookie"):
        name, _, rest = cookie.partition("=")
        if name == session.COOKIE:
            return rest.split(";")[0]
    raise AssertionError("no session cookie set")


def test_a_login_never_keeps_a_session_id_the_browser_had(live, anna):
    with live.client() as attacker:
        login = attacker.post("/api/login", json={"username": "anna", "password": PASSWORD})
        planted = _session_of(login)
    # The attacker plants their own live session cookie in the victim's browser (fixation),
    # and the victim logs in over it: the victim gets a new session, the planted one ends.
    with live.client() as victim:
        page = victim.get("/login", headers={**HTML, "cookie": f"{session.COOKIE}=forged"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        csrf = page.headers["set-cookie"].split(";")[0]
        response = victim.post(
            "/login",
            data={"csrf_token": token.group(1), "username": "anna", "password": PASSWORD},
            headers={**HTML, "cookie": f"{csrf}; {session.COOKIE}={planted}"},
        )
        assert response.status_code == 303, response.text[:300]
        assert _session_of(response) != planted
    with live.client() as attacker:
        attacker.cookies.set(session.COOKIE, planted)
        assert attacker.get("/api/me").status_code == 403


def test_relogin_in_the_same_browser_ends_its_previous_session(live, anna):
    with live.client() as browser:
        login_with_form(browser, "anna", PASSWORD)
        first = browser.cookies[session.COOKIE]
        # Log in again over the live session (the login form posted from another tab).
        page = browser.get("/login", headers=HTML, follow_redirects=False)
        assert page.status_code == 303
        response = browser.post("/api/login", json={"username": "anna", "password": PASSWORD})
        assert response.status_code == 200
        assert browser.cookies[session.COOKIE] != first
    with live.client() as other:
        other.cookies.set(session.COOKIE, first)
        assert other.get("/api/me").status_code == 403
    assert _sessions(live.pod) == 1


def test_the_csrf_token_is_bound_to_the_session(live, anna):
    with live.client() as victim, live.client() as attacker:
        before_login = _token(victim, "/login")
        login_with_form(victim, "anna", PASSWORD)
        victims = _token(victim)
        assert victims != before_login  # renewed at login
        login_with_form(attacker, "anna", PASSWORD)  # the same account, another session
        attackers = _token(attacker)
        assert attackers != victims
        # The attacker's own valid token, or the pre-login one, planted in the victim's form.
        for stolen in (attackers, before_login):
            refused = victim.post(
                "/language", data={"csrf_token": stolen, "language": "sv"}, headers=HTML
            )
            assert refused.status_code == 403, stolen
            assert "form has expired" in refused.text
        ok = victim.post(
            "/language",
            data={"csrf_token": victims, "language": "sv", "next": "/settings"},
            headers=HTML,
        )
        assert ok.status_code == 303
        # After logout and a new login, the old session's token is dead too.
        assert _logout(victim, victims).status_code == 303
        login_with_form(victim, "anna", PASSWORD)
        stale = victim.post("/language", data={"csrf_token": victims, "language": "en"})
        assert stale.status_code == 403


def test_logout_with_an_ended_session_just_goes_to_the_login_page(live, anna):
    with live.client() as browser:
        login_with_form(browser, "anna", PASSWORD)
        token = _token(browser)
        with as_superuser(live.pod.engine) as conn:
            conn.execute(schema.web_sessions.delete())
        response = _logout(browser, token)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_https_pods_use_host_prefixed_secure_cookies(live_with, anna):
    live = live_with(base_url=AnyHttpUrl("https://pod.example"))
    with live.client() as browser:
        page = browser.get("/login", headers=HTML)
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith("__Host-hp_csrf=")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        value = csrf_cookie.split(";")[0].split("=", 1)[1]
        # The cookies are Secure, so a client on plain http must send them by hand.
        response = browser.post(
            "/login",
            data={"csrf_token": token.group(1), "username": "anna", "password": PASSWORD},
            headers={**HTML, "cookie": f"__Host-hp_csrf={value}"},
        )
        assert response.status_code == 303, response.text[:300]
        cookies = response.headers.get_list("set-cookie")
        by_name = {c.split("=", 1)[0]: c for c in cookies}
        assert set(by_name) >= {"__Host-hp_session", "__Host-hp_csrf", "__Host-hp_device"}
        for cookie in by_name.values():
            if cookie.startswith("__Host-"):
                lowered = cookie.lower()
                assert "secure" in lowered and "path=/" in lowered and "domain" not in lowered
        # An unprefixed cookie of the same name (set by a subdomain, say) is not a session.
        session_value = by_name["__Host-hp_session"].split(";")[0].split("=", 1)[1]
        plain = browser.get("/api/me", headers={"cookie": f"hp_session={session_value}"})
        assert plain.status_code == 403
        prefixed = browser.get("/api/me", headers={"cookie": f"__Host-hp_session={session_value}"})
        assert prefixed.status_code == 200
