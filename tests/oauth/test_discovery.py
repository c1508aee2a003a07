"""Discovery as a third-party client meets it, over real HTTP: SMART App Launch 2 at the FHIR
base, and OpenID Connect Discovery 1.0 for the issuer of the id_tokens.

Written from the specifications: SMART App Launch 2.x "Conformance" (the document at
`[fhir base]/.well-known/smart-configuration`, JSON whatever the Accept header, its required
fields) and OpenID Connect Discovery 1.0 §3-4 (`{issuer}/.well-known/openid-configuration`,
`issuer` identical to the id_token's `iss`).
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from smart_support import (
    REDIRECT,
    add_actor,
    add_person,
    as_form,
    code_from,
    live_server,
    login_with_form,
    read_form,
)


@pytest.fixture
def server(pod):
    with live_server(pod) as base:
        yield base


@pytest.mark.parametrize("accept", [None, "application/json", "application/fhir+json", "text/html"])
def test_smart_configuration_at_the_fhir_base_is_json_whatever_the_accept(server, accept):
    headers = {"Accept": accept} if accept else {}
    response = httpx.get(f"{server}/fhir/.well-known/smart-configuration", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.json() == httpx.get(f"{server}/.well-known/smart-configuration").json()


def test_smart_configuration_has_what_the_spec_requires(server):
    config = httpx.get(f"{server}/fhir/.well-known/smart-configuration").json()
    # REQUIRED in SMART 2: token_endpoint, grant_types_supported, capabilities,
    # code_challenge_methods_supported (S256, never plain); authorization_endpoint with a
    # launch-* capability; issuer and jwks_uri with sso-openid-connect.
    assert config["token_endpoint"] == f"{server}/oauth/token"
    assert config["authorization_endpoint"] == f"{server}/oauth/authorize"
    assert "authorization_code" in config["grant_types_supported"]
    assert "S256" in config["code_challenge_methods_supported"]
    assert "plain" not in config["code_challenge_methods_supported"]
    capabilities = set(config["capabilities"])
    assert {"launch-standalone", "client-public", "permission-v2", "sso-openid-connect"} <= (
        capabilities
    )
    assert config["issuer"] == server
    assert config["jwks_uri"].startswith(server)
    # RECOMMENDED: scopes_supported, response_types_supported, revocation, introspection.
    assert "code" in config["response_types_supported"]
    assert {"openid", "fhirUser", "launch/patient", "offline_access"} <= set(
        config["scopes_supported"]
    )
    for name in ("revocation_endpoint", "introspection_endpoint"):
        assert config[name].startswith(server)
    # Every URL in it answers (none is a 404 for a GET or a POST it expects).
    assert httpx.get(config["jwks_uri"]).status_code == 200


def test_discovery_documents_are_readable_from_a_browser_app_anywhere(server):
    for path in (
        "/fhir/.well-known/smart-configuration",
        "/.well-known/openid-configuration",
        "/oauth/jwks",
    ):
        response = httpx.get(f"{server}{path}", headers={"Origin": "https://app.example"})
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == "*", path
        assert "access-control-allow-credentials" not in response.headers


def test_openid_configuration_for_the_issuer(server):
    smart = httpx.get(f"{server}/fhir/.well-known/smart-configuration").json()
    issuer = smart["issuer"]
    response = httpx.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    meta = response.json()
    # OpenID Connect Discovery 1.0 §3: REQUIRED members.
    assert meta["issuer"] == issuer
    for name in (
        "authorization_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert meta[name], name
    assert meta["token_endpoint"] == smart["token_endpoint"]  # required unless implicit only
    assert meta["jwks_uri"] == smart["jwks_uri"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert "openid" in meta["scopes_supported"]
    assert {"iss", "sub", "aud", "exp", "iat", "fhirUser"} <= set(meta["claims_supported"])
    keys = httpx.get(meta["jwks_uri"]).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["use"] == "sig" and "d" not in k for k in keys)


def test_authlib_discovers_the_issuer_and_validates_the_id_token(server, pod):
    """Authlib's OpenID client: discovery, authorize with PKCE and nonce, code exchange, and
    the id_token checked against the published keys, issuer, audience and nonce."""
    from authlib.integrations.starlette_client import OAuth

    add_person(pod.engine, "anna")
    app = add_actor(pod.engine, "Pulse App").actor
    oauth = OAuth()
    client = oauth.register(
        "pod",
        client_id=app.client_id,
        server_metadata_url=f"{server}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid fhirUser launch/patient patient/Observation.rs",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "none",
        },
    )

    async def flow() -> tuple[dict, dict]:
        nonce = secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        started = await client.create_authorization_url(
            REDIRECT, aud=f"{server}/fhir", nonce=nonce, code_verifier=verifier
        )
        callback = await asyncio.to_thread(_person_allows, server, started["url"])
        assert callback["state"] == started["state"]
        token = await client.fetch_access_token(
            redirect_uri=REDIRECT, code=callback["code"], code_verifier=verifier
        )
        return dict(token), dict(await client.parse_id_token(token, nonce=nonce))

    # A thread of its own: a browser test run earlier in this worker may have left
    # Playwright's event loop running in this one, where asyncio.run refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        token, claims = pool.submit(lambda: asyncio.run(flow())).result()
    assert claims["iss"] == server
    assert claims["aud"] == app.client_id
    assert claims["sub"] == token["patient"]
    assert claims["fhirUser"] == f"{server}/fhir/Patient/{token['patient']}"


def _person_allows(server: str, authorize_url: str) -> dict[str, str]:
    with httpx.Client(base_url=server, follow_redirects=False) as browser:
        login_with_form(browser, "anna")
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text[:500]
        form = read_form(page.text)
        response = browser.post(form.action, data=as_form([*form.fields, ("decision", "allow")]))
        code_from(response)
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
