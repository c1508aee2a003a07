"""The OAuth attack cases (RFC 9700, SMART best practice): each refused with the right error.

Every case goes through the real endpoints and the real HTML forms, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update
from tests.conftest import as_superuser

from healthpod.store import schema
from smart_support import (
    FHIR,
    REDIRECT,
    add_actor,
    add_person,
    authorize_params,
    code_from,
    consent,
    login,
    pkce,
    tokens_for,
)

SCOPE = "launch/patient patient/Observation.rs"


@pytest.fixture
def anna(pod):
    return add_person(pod.engine, "anna")


@pytest.fixture
def app(pod):
    return add_actor(pod.engine).actor


def _redirect_error(response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _authorize(client, params):
    return client.get("/oauth/authorize", params=params, follow_redirects=False)


def _code(client, app, scope=SCOPE, **extra):
    login(client, "anna")
    verifier, challenge = pkce()
    params = authorize_params(app.client_id, scope, challenge, **extra)
    code, state = code_from(consent(client, params))
    assert state == params["state"]
    return code, verifier


def _exchange(client, app, code, verifier, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": app.client_id,
        **extra,
    }
    return client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- authorize -----------------------------------------------------------------------------


def test_authorize_without_pkce_is_refused(client, anna, app):
    params = authorize_params(app.client_id, SCOPE, "x")
    del params["code_challenge"], params["code_challenge_method"]
    error = _redirect_error(_authorize(client, params))
    assert error["error"] == "invalid_request" and "PKCE" in error["error_description"]
    assert error["state"] == params["state"]


def test_plain_pkce_is_refused(client, anna, app):
    verifier, _ = pkce()
    params = authorize_params(app.client_id, SCOPE, verifier, code_challenge_method="plain")
    assert _redirect_error(_authorize(client, params))["error"] == "invalid_request"


def test_missing_state_is_refused(client, anna, app):
    params = authorize_params(app.client_id, SCOPE, pkce()[1])
    del params["state"]
    assert _redirect_error(_authorize(client, params))["error"] == "invalid_request"


def test_state_is_echoed_unchanged(client, anna, app):
    _, challenge = pkce()
    login(client, "anna")
    params = authorize_params(app.client_id, SCOPE, challenge, state="a b&c=d/é?#%")
    _code, state = code_from(consent(client, params))
    assert state == "a b&c=d/é?#%"


@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT + "/",
        REDIRECT.upper(),
        REDIRECT + "?x=1",
        REDIRECT + "#f",
        REDIRECT.replace("9999", "9998"),
        REDIRECT.replace("http:", "https:"),
        REDIRECT + "/sub",
        "https://evil.example/callback",
    ],
)
def test_redirect_uri_must_match_exactly_and_is_never_followed(client, anna, app, uri):
    params = authorize_params(app.client_id, SCOPE, pkce()[1], redirect_uri=uri)
    response = _authorize(client, params)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_unknown_client_gets_a_page_not_a_redirect(client, anna, app):
    params = authorize_params("BAD_CLIENT_ID", SCOPE, pkce()[1])
    response = _authorize(client, params)
    assert response.status_code == 400 and "location" not in response.headers


def test_wrong_aud_gets_no_code(client, anna, app):
    params = authorize_params(app.client_id, SCOPE, pkce()[1], aud="https://other.example/fhir")
    assert _redirect_error(_authorize(client, params))["error"] == "invalid_request"


def test_implicit_flow_is_refused(client, anna, app):
    params = authorize_params(app.client_id, SCOPE, pkce()[1], response_type="token")
    error = _redirect_error(_authorize(client, params))
    assert error["error"] in ("unsupported_response_type", "unauthorized_client")


def test_authorize_sends_the_person_to_login_and_back(client, anna, app):
    params = authorize_params(app.client_id, SCOPE, pkce()[1])
    response = _authorize(client, params)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize")


def test_the_person_can_deny(client, anna, app):
    login(client, "anna")
    params = authorize_params(app.client_id, SCOPE, pkce()[1])
    error = _redirect_error(consent(client, params, decision="deny"))
    assert error["error"] == "access_denied" and error["state"] == params["state"]


def test_consent_screen_cannot_be_framed_or_cached(client, anna, app):
    login(client, "anna")
    params = authorize_params(app.client_id, SCOPE + " offline_access", pkce()[1])
    page = _authorize(client, params)
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "offline access" in page.text  # the person is told about offline_access


def test_consent_post_without_csrf_token_is_refused(client, anna, app):
    login(client, "anna")
    params = authorize_params(app.client_id, SCOPE, pkce()[1])
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(
        "/oauth/authorize?" + query,
        data={"decision": "allow", "category": "heart", "action": "read"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_cross_site_consent_post_is_refused(client, anna, app):
    login(client, "anna")
    params = authorize_params(app.client_id, SCOPE, pkce()[1])
    page = _authorize(client, params)
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/oauth/authorize",
        params=params,
        data={"decision": "allow", "category": "heart", "action": "read", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403


# --- token ---------------------------------------------------------------------------------


@pytest.mark.parametrize("verifier", [None, "", "wrong" * 10, "challenge"])
def test_wrong_or_missing_pkce_verifier(client, anna, app, verifier):
    code, right = _code(client, app)
    if verifier == "challenge":
        import base64
        import hashlib

        digest = hashlib.sha256(right.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    response = _exchange(client, app, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_token_response_shape(client, anna, app):
    code, verifier = _code(client, app, scope=SCOPE + " launch/patient bogus/scope")
    response = _exchange(client, app, code, verifier, state="ignored-extra-field")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int)
    assert body["scope"] == "launch/patient patient/Observation.rs"  # deduplicated, bogus dropped
    assert "refresh_token" not in body  # no offline_access, no refresh token


def test_code_replay_is_refused_and_revokes_the_first_tokens(client, anna, app):
    code, verifier = _code(client, app)
    first = _exchange(client, app, code, verifier).json()
    assert (
        client.get(f"{FHIR}/Observation", headers=_bearer(first["access_token"])).status_code == 200
    )
    again = _exchange(client, app, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    gone = client.get(f"{FHIR}/Observation", headers=_bearer(first["access_token"]))
    assert gone.status_code == 401
    assert 'error="invalid_token"' in gone.headers["www-authenticate"]


def test_expired_code_is_refused(client, pod, anna, app):
    code, verifier = _code(client, app)
    with as_superuser(pod.engine) as conn:
        conn.execute(update(schema.oauth_codes).values(expires_ms=1))
    assert _exchange(client, app, code, verifier).json()["error"] == "invalid_grant"


def test_code_of_one_client_cannot_be_redeemed_by_another(client, pod, anna, app):
    other = add_actor(pod.engine, "Other App").actor
    code, verifier = _code(client, app)
    response = _exchange(client, other, code, verifier, client_id=other.client_id)
    assert response.json()["error"] == "invalid_grant"


def test_token_redirect_uri_must_match_the_authorize_one(client, anna, app):
    code, verifier = _code(client, app)
    response = _exchange(client, app, code, verifier, redirect_uri=REDIRECT + "/")
    assert response.json()["error"] == "invalid_grant"


def test_password_grant_is_refused(client, anna, app):
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "anna",
            "password": "x",
            "client_id": app.client_id,
        },
    )
    assert response.json()["error"] == "unsupported_grant_type"


def test_json_token_request_is_refused_cleanly(client, anna, app):
    response = client.post("/oauth/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_confidential_client_needs_its_secret(client, pod, anna):
    registration = add_actor(pod.engine, "Clinic", public=False, kind="clinic", purpose="TREAT")
    app = registration.actor
    code, verifier = _code(client, app)
    assert _exchange(client, app, code, verifier).json()["error"] == "invalid_client"
    code, verifier = _code(client, app)
    ok = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(app.client_id, registration.client_secret),
    )
    assert ok.status_code == 200, ok.text


# --- refresh -------------------------------------------------------------------------------


def _refresh(client, app, refresh_token, **extra):
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        **extra,
    }
    return client.post("/oauth/token", data=data)


def test_refresh_rotates_and_reuse_revokes_the_family(client, anna, app):
    first = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access")
    second = _refresh(client, app, first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = _refresh(client, app, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the whole family is gone: the new refresh token and access token too
    assert _refresh(client, app, second["refresh_token"]).json()["error"] == "invalid_grant"
    response = client.get(f"{FHIR}/Observation", headers=_bearer(second["access_token"]))
    assert response.status_code == 401


def test_refresh_cannot_widen_the_scope(client, anna, app):
    first = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access")
    wider = _refresh(client, app, first["refresh_token"], scope="patient/*.cruds offline_access")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # the refused attempt did not use the refresh token up
    narrower = _refresh(client, app, first["refresh_token"], scope="patient/Observation.rs")
    assert narrower.status_code == 200
    assert narrower.json()["scope"] == "patient/Observation.rs"


def test_refresh_token_of_another_client_is_refused(client, pod, anna, app):
    other = add_actor(pod.engine, "Other App").actor
    first = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access")
    assert _refresh(client, other, first["refresh_token"]).json()["error"] == "invalid_grant"


# --- using tokens --------------------------------------------------------------------------

FORGED = [
    # alg: none, {"sub": "1"}
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwic2NvcGUiOiJwYXRpZW50LyoucnMifQ.",
    # HS256 signed with a guessed key
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.7dYqJ1dhtW1h9H3Zr0oQmM0kq3VbqkI1e7QTu5b0I3s",
    "not-a-token",
]


@pytest.mark.parametrize("token", FORGED)
def test_forged_tokens_are_refused(client, anna, app, token):
    response = client.get(f"{FHIR}/Observation", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_refresh_and_id_tokens_are_not_access_tokens(client, anna, app):
    body = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access openid fhirUser")
    assert body["id_token"].count(".") == 2
    for token in (body["refresh_token"], body["id_token"]):
        assert client.get(f"{FHIR}/Observation", headers=_bearer(token)).status_code == 401


def test_id_token_verifies_with_the_published_keys(client, anna, app):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    body = tokens_for(client, app.client_id, "anna", SCOPE + " openid fhirUser")
    keys = KeySet.import_key_set(client.get("/oauth/jwks").json())
    claims = jwt.decode(body["id_token"], keys).claims
    assert claims["aud"] == app.client_id
    assert claims["fhirUser"] == f"{FHIR}/Patient/{body['patient']}"


def test_token_in_query_string_is_refused(client, anna, app):
    body = tokens_for(client, app.client_id, "anna", SCOPE)
    response = client.get(f"{FHIR}/Observation", params={"access_token": body["access_token"]})
    assert response.status_code == 401


def test_revocation_and_introspection(client, pod, anna, app):
    body = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access")
    active = client.post(
        "/oauth/introspect", data={"token": body["access_token"], "client_id": app.client_id}
    )
    assert active.json()["active"] is True and active.json()["scope"] == body["scope"]
    revoked = client.post(
        "/oauth/revoke", data={"token": body["refresh_token"], "client_id": app.client_id}
    )
    assert revoked.status_code == 200
    after = client.post(
        "/oauth/introspect", data={"token": body["access_token"], "client_id": app.client_id}
    )
    assert after.json() == {"active": False}
    assert (
        client.get(f"{FHIR}/Observation", headers=_bearer(body["access_token"])).status_code == 401
    )
    with as_superuser(pod.engine) as conn:
        events = [r.event for r in conn.execute(select(schema.access_log.c.event))]
    assert {"oauth.token_issued", "oauth.token_revoked"} <= set(events)


def test_tokens_are_stored_only_as_hashes(client, pod, anna, app):
    body = tokens_for(client, app.client_id, "anna", SCOPE + " offline_access")
    with as_superuser(pod.engine) as conn:
        stored = [r.token_hash for r in conn.execute(select(schema.oauth_tokens.c.token_hash))]
        logged = " ".join(str(r) for r in conn.execute(select(schema.access_log)))
    assert body["access_token"] not in stored and body["refresh_token"] not in stored
    assert body["access_token"] not in logged and body["refresh_token"] not in logged


def test_brute_force_login_is_throttled(client, anna):
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    for _ in range(6):
        client.post(
            "/login",
            data={"username": "anna", "password": "wrong", "csrf_token": token, "next": "/"},
        )
    response = client.post(
        "/login",
        data={
            "username": "anna",
            "password": "correct horse battery staple",
            "csrf_token": token,
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code != 303  # locked: even the right password does not log in
    assert "Too many" in response.text
