"""The person's JSON API: who must NOT see or change what, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import AnyHttpUrl

from healthpod import accounts
from healthpod.app import create_app
from healthpod.consent import AccessRequest, Action, Scope, access, actors, store
from healthpod.keys import secret_key
from healthpod.pod import now_ms
from healthpod.web import session

PASSWORD = "long enough secret"


@pytest.fixture
def world(pod):
    """Alice and Bob with accounts; a coach with a consent from Alice and one from Bob."""
    now = now_ms() - 1000
    with pod.engine.begin() as conn:
        alice = pod.person_id("alice", connection=conn)
        bob = pod.person_id("bob", connection=conn)
        accounts.create_account(conn, "alice", PASSWORD, person_id=alice, now_ms=now)
        accounts.create_account(conn, "bob", PASSWORD, person_id=bob, now_ms=now)
        coach = actors.register(
            conn,
            name="Coach Anna",
            kind="coach",
            purpose="CAREMGT",
            redirect_uris=["https://coach.example/cb"],
            public=False,
            now_ms=now,
        ).actor
        heart = Scope(frozenset({"heart"}))
        alices = store.grant(conn, alice, coach.id, heart, valid_until_ms=None, now_ms=now)
        bobs = store.grant(conn, bob, coach.id, heart, valid_until_ms=None, now_ms=now)
    return {"alice": alice, "bob": bob, "coach": coach, "alices": alices, "bobs": bobs}


@pytest.fixture
def app(pod):
    return create_app(pod.settings, pod=pod)


def client_for(app, username: str | None) -> TestClient:
    client = TestClient(app)
    if username is not None:
        r = client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
    return client


def test_nothing_without_a_session(app, world):
    anonymous = client_for(app, None)
    cid = world["alices"].id
    for path in [
        "/api/log/fhir",
        "/api/me",
        "/api/consents",
        f"/api/consents/{cid}",
        "/api/log",
        "/api/log/verify",
        f"/api/consents/{cid}/receipts",
        f"/api/consents/{cid}/fhir",
    ]:
        r = anonymous.get(path)
        assert r.status_code == 403, path
        assert r.json()["ok"] is False and "not logged in" in r.json()["error"]
    assert anonymous.post(f"/api/consents/{cid}/revoke", json={}).status_code == 403


def test_a_person_sees_only_their_own(app, world):
    bob = client_for(app, "bob")
    [mine] = bob.get("/api/consents").json()
    assert mine["id"] == world["bobs"].id and mine["actor"]["name"] == "Coach Anna"
    alices = world["alices"].id
    for path in [
        f"/api/consents/{alices}",
        f"/api/consents/{alices}/receipts",
        f"/api/consents/{alices}/fhir",
    ]:
        assert bob.get(path).status_code == 404, path
    assert bob.post(f"/api/consents/{alices}/revoke", json={}).status_code == 404
    entries = bob.get("/api/log").json()["entries"]
    assert {e["consent_id"] for e in entries if e["consent_id"]} == {world["bobs"].id}
    bundle = bob.get("/api/log/fhir").json()
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]
    patients = {
        entity["what"]["reference"]
        for item in bundle["entry"]
        for entity in item["resource"]["entity"]
        if entity["what"]["reference"].startswith("Patient/")
    }
    assert patients == {f"Patient/{world['bob']}"}
    alice = client_for(app, "alice")
    assert alice.get(f"/api/consents/{alices}").json()["state"] == "active"


def test_revoking_through_the_api_stops_the_very_next_request(app, world, pod):
    alice = client_for(app, "alice")
    cid = world["alices"].id
    request = AccessRequest(world["alice"], world["coach"].id, Action.READ, frozenset({"heart"}))
    assert access.authorize(pod.engine, request, event="test", now_ms=now_ms()).allowed
    r = alice.post(f"/api/consents/{cid}/revoke", json={})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert not access.authorize(pod.engine, request, event="test", now_ms=now_ms()).allowed
    assert alice.post(f"/api/consents/{cid}/revoke", json={}).status_code == 409
    shown = alice.get(f"/api/consents/{cid}").json()
    assert [h["change"] for h in shown["history"]] == ["granted", "revoked"]
    receipts = alice.get(f"/api/consents/{cid}/receipts").json()
    assert [r["consentRecord"]["state"] for r in receipts] == ["given", "withdrawn"]
    assert alice.get(f"/api/consents/{cid}/fhir").json()["status"] == "inactive"


def test_changes_must_be_json_and_same_site(app, world):
    alice = client_for(app, "alice")
    cid = world["alices"].id
    form = alice.post(f"/api/consents/{cid}/revoke", data={"x": "1"})
    assert form.status_code == 400 and "must be JSON" in form.json()["error"]
    foreign = alice.post(
        f"/api/consents/{cid}/revoke", json={}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    cross = alice.post(
        f"/api/consents/{cid}/revoke", json={}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert alice.get(f"/api/consents/{cid}").json()["state"] == "active"


def test_login_failures_and_the_log(app, world):
    client = client_for(app, None)
    wrong = client.post("/api/login", json={"username": "alice", "password": "nope nope"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "Wrong username or password."
    assert "set-cookie" not in wrong.headers
    assert client.post("/api/login", json={"username": "alice"}).status_code == 422
    alice = client_for(app, "alice")
    page = alice.get("/api/log", params={"limit": 2}).json()
    assert [e["event"] for e in page["entries"]] == ["login", "login"]
    assert [e["outcome"] for e in page["entries"]] == ["ok", "failed"]
    rest = alice.get("/api/log", params={"before_seq": page["next_before_seq"]}).json()
    assert [e["event"] for e in rest["entries"]] == ["consent.granted"]
    assert rest["next_before_seq"] is None
    assert alice.get("/api/log/verify").json()["ok"] is True
    assert alice.get("/api/me").json()["username"] == "alice"
    alice.post("/api/logout", json={})
    assert alice.get("/api/me").status_code == 403


def test_session_cookie_attributes(pod, world):
    https = pod.settings.model_copy(update={"base_url": AnyHttpUrl("https://pod.example")})
    for settings, secure in [(pod.settings, False), (https, True)]:
        client = TestClient(create_app(settings, pod=pod))
        r = client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        cookie = r.headers["set-cookie"]
        # Over https the __Host- prefix: Secure, Path=/ and no Domain, so no subdomain sets it.
        name = f"__Host-{session.COOKIE}" if secure else session.COOKIE
        assert cookie.startswith(f"{name}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "domain" not in cookie.lower()
        assert ("Secure" in cookie) is secure
        assert f"Max-Age={session.IDLE_TIMEOUT_S}" in cookie


def _cookie(pod, person_id: int, *, signed_at: float, issued: float) -> str:
    """A session cookie as the server would have signed it at `signed_at`."""

    class StampedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(signed_at)

    serializer = URLSafeTimedSerializer(
        secret_key(pod.settings.home), salt=session._SALT, signer=StampedSigner
    )
    with pod.engine.begin() as conn:
        session_id = accounts.start_session(
            conn, person_id, now_ms=int(issued * 1000), max_age_ms=10**12
        )
    return serializer.dumps({"p": person_id, "iat": int(issued), "s": session_id})


def test_sessions_end_when_idle_or_too_old_or_forged(app, pod, world):
    now = time.time()
    cases = {
        "fresh": (_cookie(pod, world["alice"], signed_at=now, issued=now), 200),
        "idle": (
            _cookie(
                pod, world["alice"], signed_at=now - session.IDLE_TIMEOUT_S - 5, issued=now - 4000
            ),
            403,
        ),
        "too old": (
            _cookie(
                pod, world["alice"], signed_at=now, issued=now - session.ABSOLUTE_TIMEOUT_S - 5
            ),
            403,
        ),
        "forged": (_cookie(pod, world["alice"], signed_at=now, issued=now)[:-3] + "abc", 403),
    }
    for name, (cookie, status) in cases.items():
        client = TestClient(app, cookies={session.COOKIE: cookie})
        assert client.get("/api/me").status_code == status, name


def test_an_active_session_is_restamped(app, pod, world):
    now = time.time()
    old = _cookie(pod, world["alice"], signed_at=now - 600, issued=now - 600)
    client = TestClient(app, cookies={session.COOKIE: old})
    r = client.get("/api/me")
    assert r.status_code == 200
    assert r.headers["set-cookie"].startswith(f"{session.COOKIE}=")
    fresh = client.get("/api/me")
    assert "set-cookie" not in fresh.headers


def test_a_new_password_or_a_disabled_account_ends_every_session(app, pod, world):
    alice = client_for(app, "alice")
    elsewhere = client_for(app, "alice")
    bob = client_for(app, "bob")
    with pod.engine.begin() as conn:
        accounts.set_password(conn, world["alice"], "a brand new secret")
    assert alice.get("/api/me").status_code == 403
    assert elsewhere.get("/api/consents").status_code == 403
    assert bob.get("/api/me").status_code == 200
    with pod.engine.begin() as conn:
        accounts.disable_account(conn, world["bob"], now_ms=now_ms())
    assert bob.get("/api/me").status_code == 403


def test_ids_beyond_the_databases_integers_are_refused_not_crashed(app, world):
    alice = client_for(app, "alice")
    huge = 2**70
    for path in [f"/api/consents/{huge}", f"/api/consents/{huge}/receipts"]:
        assert alice.get(path).status_code == 422, path
    assert alice.post(f"/api/consents/{huge}/revoke", json={}).status_code == 422
    assert alice.get("/api/log", params={"before_seq": huge}).status_code == 422
    assert alice.get(f"/api/consents/{2**31}").status_code == 422
