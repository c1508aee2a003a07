"""Signing in with an e-ID against a real OpenID provider (node-oidc-provider), in process.

Who must NOT get in: a replayed answer, an answer started in another browser, a cancelled
sign-in, an e-ID without a personal identity number, someone who declines the terms. None of
them leaves a person, an account or an identity behind.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.identity.numbers import PERSONNUMMER, IdentifierKeys
from healthpod.keys import identity_key
from healthpod.store import schema

HTML = {"accept": "text/html"}
CALLBACK = "http://testserver/login/eid/callback"


def _counts(pod) -> dict[str, int]:
    with as_superuser(pod.engine) as conn:
        return {
            table.name: int(conn.scalar(select(func.count()).select_from(table)))
            for table in (schema.persons, schema.accounts, schema.identities, schema.access_log)
        }


def _start(client) -> str:
    response = client.get("/login/eid/test?next=/records", follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["response_type"] == ["code"]
    return location


def _callback(client, url: str):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", headers=HTML, follow_redirects=False)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found[1]


def test_first_sign_in_joins_after_the_terms_then_signs_in_again(
    eid_pod, eid_client, provider_sign_in
):
    before = _counts(eid_pod)
    back = provider_sign_in(_start(eid_client), "tolvan", until=CALLBACK)
    response = _callback(eid_client, back)
    assert response.status_code == 303 and response.headers["location"] == "/login/eid/terms"
    assert _counts(eid_pod) == before  # nothing stored before the terms are accepted

    terms = eid_client.get("/login/eid/terms", headers=HTML)
    assert terms.status_code == 200
    assert "Tolvan Tolvansson" in terms.text and "19121212-1212" in terms.text
    accepted = eid_client.post(
        "/login/eid/terms",
        data={"csrf_token": _csrf(terms.text), "choice": "accept"},
        headers=HTML,
        follow_redirects=False,
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/records"
    assert eid_client.get("/records", headers=HTML, follow_redirects=False).status_code == 200
    settings = eid_client.get("/settings", headers=HTML)
    assert "19121212-1212" in settings.text and "(Test e-ID)" in settings.text
    assert "Change password" not in settings.text  # an e-ID account has no password

    with as_superuser(eid_pod.engine) as conn:
        identity = conn.execute(select(schema.identities)).mappings().one()
        person = conn.execute(select(schema.persons)).mappings().one()
        account = conn.execute(select(schema.accounts)).mappings().one()
        dump = " ".join(str(v) for v in {**identity, **person, **account}.values())
    assert "191212121212" not in dump and "1212121212" not in dump  # never in clear
    keys = IdentifierKeys.from_key(identity_key(eid_pod.settings))
    assert identity["value_hash"] == keys.hash(PERSONNUMMER, "191212121212")
    assert keys.decrypt(identity["value_encrypted"]) == "191212121212"
    assert person["name"] == "Tolvan Tolvansson" and identity["terms_version"] == "1"
    assert account["username"].startswith("eid-")

    # Signed out, the same e-ID signs in to the same person, with no terms page.
    eid_client.cookies.clear()
    back = provider_sign_in(_start(eid_client), "tolvan", until=CALLBACK)
    again = _callback(eid_client, back)
    assert again.status_code == 303 and again.headers["location"] == "/records"
    counts = _counts(eid_pod)
    assert (counts["persons"], counts["accounts"], counts["identities"]) == (1, 1, 1)
    with as_superuser(eid_pod.engine) as conn:
        reasons = list(conn.scalars(select(schema.access_log.c.reason)))
    assert any("joined with e-ID (Test e-ID)" in r for r in reasons)
    assert any(r == "logged in with e-ID (Test e-ID)" for r in reasons)


def test_the_password_form_cannot_log_in_to_an_eid_account(eid_pod, eid_client, provider_sign_in):
    back = provider_sign_in(_start(eid_client), "anna", until=CALLBACK)
    _callback(eid_client, back)
    terms = eid_client.get("/login/eid/terms", headers=HTML)
    eid_client.post("/login/eid/terms", data={"csrf_token": _csrf(terms.text), "choice": "accept"})
    with as_superuser(eid_pod.engine) as conn:
        username = conn.scalar(select(schema.accounts.c.username))
    eid_client.cookies.clear()
    page = eid_client.get("/login", headers=HTML)
    refused = eid_client.post(
        "/login",
        data={"csrf_token": _csrf(page.text), "username": username, "password": "!e-id"},
        headers=HTML,
    )
    assert refused.status_code == 403 and "Wrong username or password" in refused.text


def test_a_replayed_answer_is_refused_and_logged(eid_pod, eid_client, provider_sign_in, caplog):
    back = provider_sign_in(_start(eid_client), "tolvan", until=CALLBACK)
    cookie = eid_client.cookies.get("hp_eid_state")
    first = _callback(eid_client, back)
    assert first.status_code == 303
    before = _counts(eid_pod)
    eid_client.cookies.clear()
    eid_client.cookies.set("hp_eid_state", cookie, path="/login/eid")  # even with the cookie
    with caplog.at_level(logging.WARNING, logger="healthpod.identity.signin"):
        replay = _callback(eid_client, back)
    assert replay.status_code == 403
    assert "already used or has expired" in replay.text and "Traceback" not in replay.text
    assert "replayed authorization response" in caplog.text
    assert _counts(eid_pod) == before


def test_an_answer_for_another_browser_is_refused(eid_pod, eid_client, provider_sign_in, caplog):
    back = provider_sign_in(_start(eid_client), "tolvan", until=CALLBACK)
    eid_client.cookies.clear()  # the victim's browser: no state cookie of this sign-in
    before = _counts(eid_pod)
    with caplog.at_level(logging.WARNING, logger="healthpod.identity.signin"):
        response = _callback(eid_client, back)
    assert response.status_code == 403 and "could not be completed" in response.text
    assert "state not started in this browser" in caplog.text
    assert _counts(eid_pod) == before


def test_a_wrong_nonce_is_refused(eid_pod, eid_client, provider_sign_in, caplog):
    location = _start(eid_client)
    with eid_pod.engine.begin() as conn:  # the sign-in's stored nonce is not the one sent
        conn.execute(schema.oidc_logins.update().values(nonce="another-nonce"))
    back = provider_sign_in(location, "tolvan", until=CALLBACK)
    before = _counts(eid_pod)
    with caplog.at_level(logging.WARNING, logger="healthpod.identity.signin"):
        response = _callback(eid_client, back)
    assert response.status_code == 403 and "could not be trusted" in response.text
    assert "reason=bad claim: nonce" in caplog.text
    assert _counts(eid_pod) == before


def test_a_cancelled_sign_in_and_an_unknown_state_are_refused(eid_pod, eid_client):
    location = _start(eid_client)
    state = parse_qs(urlsplit(location).query)["state"][0]
    before = _counts(eid_pod)
    cancelled = eid_client.get(
        f"/login/eid/callback?state={state}&error=access_denied", headers=HTML
    )
    assert cancelled.status_code == 403 and "cancelled" in cancelled.text
    unknown = eid_client.get("/login/eid/callback?state=made-up&code=x", headers=HTML)
    assert unknown.status_code == 403 and "already used or has expired" in unknown.text
    assert eid_client.get("/login/eid/nosuch", headers=HTML).status_code == 400
    assert _counts(eid_pod) == before


def test_an_eid_without_a_number_is_refused(eid_pod, eid_client, provider_sign_in):
    back = provider_sign_in(_start(eid_client), "nonumber", until=CALLBACK)
    before = _counts(eid_pod)
    response = _callback(eid_client, back)
    assert response.status_code == 403 and "personal identity number" in response.text
    assert _counts(eid_pod) == before


def test_declining_the_terms_stores_nothing(eid_pod, eid_client, provider_sign_in):
    before = _counts(eid_pod)
    _callback(eid_client, provider_sign_in(_start(eid_client), "bertil", until=CALLBACK))
    terms = eid_client.get("/login/eid/terms", headers=HTML)
    declined = eid_client.post(
        "/login/eid/terms",
        data={"csrf_token": _csrf(terms.text), "choice": "decline"},
        follow_redirects=False,
    )
    assert declined.headers["location"] == "/login"
    assert eid_client.get("/login/eid/terms", follow_redirects=False).status_code == 303
    assert _counts(eid_pod) == before


def test_the_terms_page_is_in_swedish(eid_client, provider_sign_in):
    eid_client.cookies.set("hp_lang", "sv")
    _callback(eid_client, provider_sign_in(_start(eid_client), "bertil", until=CALLBACK))
    terms = eid_client.get("/login/eid/terms", headers=HTML)
    assert "Regionens villkor" in terms.text and "20000101-2384" in terms.text


def test_an_eid_person_deletes_everything_without_a_password(eid_pod, eid_client, provider_sign_in):
    _callback(eid_client, provider_sign_in(_start(eid_client), "anna", until=CALLBACK))
    terms = eid_client.get("/login/eid/terms", headers=HTML)
    eid_client.post("/login/eid/terms", data={"csrf_token": _csrf(terms.text), "choice": "accept"})
    with as_superuser(eid_pod.engine) as conn:
        username = conn.scalar(select(schema.accounts.c.username))
    page = eid_client.get("/data", headers=HTML)
    assert 'name="password"' not in page.text and username in page.text
    deleted = eid_client.post(
        "/data/delete",
        data={"csrf_token": _csrf(page.text), "confirm_username": username},
        headers=HTML,
        follow_redirects=False,
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/login?deleted=1"
    counts = _counts(eid_pod)
    assert (counts["persons"], counts["accounts"], counts["identities"]) == (0, 0, 0)
    # The same e-ID is a stranger again: it is offered the terms.
    again = _callback(eid_client, provider_sign_in(_start(eid_client), "anna", until=CALLBACK))
    assert again.headers["location"] == "/login/eid/terms"


def test_a_region_can_turn_passwords_off(tmp_path, database_url, oidc_provider):
    from fastapi.testclient import TestClient

    from healthpod import accounts
    from healthpod.app import create_app
    from healthpod.config import Settings
    from healthpod.pod import Pod, now_ms

    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        base_url="http://testserver",  # type: ignore[arg-type]
        identity_providers=(oidc_provider.settings_entry(),),
        password_login=False,
    )
    pod = Pod.open(settings)
    try:
        with pod.engine.begin() as conn:
            accounts.create_account(
                conn, "olle", "a long password", person_id=pod.person_id(), now_ms=now_ms()
            )
        with TestClient(create_app(settings, pod=pod), base_url="http://testserver") as c:
            page = c.get("/login", headers=HTML)
            assert "Sign in with Test e-ID" in page.text and 'name="password"' not in page.text
            refused = c.post(
                "/login",
                data={
                    "csrf_token": _csrf(page.text),
                    "username": "olle",
                    "password": "a long password",
                },
                headers=HTML,
                follow_redirects=False,
            )
            assert refused.status_code == 403 and "e-ID only" in refused.text
            api = c.post("/api/login", json={"username": "olle", "password": "a long password"})
            assert api.status_code == 403 and "e-ID only" in api.json()["error"]
    finally:
        pod.close()
