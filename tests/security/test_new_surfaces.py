"""Attacks on the surfaces added since the first security tests, over real HTTP, on SQLite and
PostgreSQL: the SMART Health Links manifest, the backend clients' token endpoint, deliveries,
the web forms of delegates and notifications, and the Host header.

Each hostile request must end in a clear 4xx that names what was wrong, never a 500, and must
change nothing: no token issued, no access-log entry, no passcode attempt spent, no row stored.
Found by hand against a running server first; each case failed with a 500 (or, for the Host
header, an open redirect) before its fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.consent.actors import register_backend
from healthpod.pod import now_ms
from healthpod.share import links
from healthpod.store import schema
from smart_support import add_person, login_with_form

HTML = {"accept": "text/html"}
DAY = 86_400_000
DEEP = b"[" * 5000 + b"]" * 5000
KEY = RSAKey.generate_key(2048, parameters={"kid": "clinic-1", "alg": "RS384", "use": "sig"})
HOSTILE_JSON = {
    "deep": (DEEP, "nests deeper than"),
    "surrogate": (b'{"recipient": "Dr. \\ud800"}', "lone surrogate"),
    "nul": (b'{"recipient": "Dr. \\u0000 Who"}', "NUL character"),
}


def _rows(pod, table) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- SMART Health Links -------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_json_in_a_manifest_request_is_a_400_and_spends_nothing(live, case):
    anna = add_person(live.pod.engine, "anna")
    request = links.LinkRequest(
        categories=frozenset({"heart"}), expires_ms=now_ms() + DAY, passcode="1234"
    )
    made = links.create(live.pod, anna, request, now_ms=now_ms())
    url = json.loads(base64.urlsafe_b64decode(made.shlink.removeprefix("shlink:/") + "=="))["url"]
    path = url.removeprefix(str(live.pod.settings.public_base_url))
    body, words = HOSTILE_JSON[case]
    logged = _rows(live.pod, schema.access_log)
    with live.client() as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert words in response.json()["error"]
        assert _rows(live.pod, schema.access_log) == logged
        # The link still takes the right passcode: no attempt was spent.
        good = client.post(path, json={"recipient": "Dr. Who", "passcode": "1234"})
    assert good.status_code == 200, good.text


def test_a_forged_host_header_never_becomes_a_redirect(live):
    with live.client() as client:
        for path in ("/shl/file/", "/sharing/", "/fhir/metadata/"):
            response = client.get(path, headers={"host": "evil.example"})
            assert "evil.example" not in response.headers.get("location", ""), path
            assert response.status_code == 404, (path, response.status_code)


# --- backend clients (RFC 7523) -----------------------------------------------------------


@pytest.fixture
def clinic(live) -> str:
    with live.pod.engine.begin() as conn:
        actor = register_backend(
            conn,
            name="Region Clinic",
            kind="clinic",
            purpose="dpv:ServiceProvision",
            jwks_uri=None,
            jwks={"keys": [KEY.as_dict(private=False)]},
            now_ms=now_ms(),
        )
    return actor.client_id


def _token_request(client, assertion: str):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "system/*.c",
        },
    )


def _assertion(live, client_id: str) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{live.url}/oauth/token",
        "exp": int(time.time()) + 120,
        "jti": secrets.token_hex(16),
    }
    return jwt.encode({"alg": "RS384", "kid": "clinic-1"}, claims, KEY, algorithms=["RS384"])


@pytest.mark.parametrize(
    "payload",
    [DEEP, b'{"iss": "\\ud800"}', b'{"iss": "clinic\\u0000"}'],
    ids=["deep", "surrogate-iss", "nul-iss"],
)
def test_a_hostile_assertion_payload_gets_no_token_and_no_500(live, clinic, payload):
    header = _b64(b'{"alg":"RS384","kid":"clinic-1"}')
    forged = f"{header}.{_b64(payload)}.{_b64(b'sig')}"
    with live.client() as client:
        response = _token_request(client, forged)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert _rows(live.pod, schema.backend_tokens) == 0


def _forged(header: dict, claims: dict, signature: bytes) -> str:
    encoded = (_b64(json.dumps(part).encode()) for part in (header, claims))
    return f"{'.'.join(encoded)}.{_b64(signature)}"


def _hs256_with_the_public_key(live, client_id: str) -> str:
    """RS384 → HS256: "signed" with the client's public key (PEM) as the HMAC secret."""
    signing_input = ".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "kid": "clinic-1"}, _claims(live, client_id))
    )
    mac = hmac.new(KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(mac.digest())}"


def _claims(live, client_id: str) -> dict:
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{live.url}/oauth/token",
        "exp": int(time.time()) + 120,
        "jti": secrets.token_hex(16),
    }


@pytest.mark.parametrize(
    ("forge", "words"),
    [
        (lambda live, cid: _forged({"alg": "none"}, _claims(live, cid), b""), "'none'"),
        (_hs256_with_the_public_key, "'HS256'"),
        (
            lambda live, cid: jwt.encode(
                {"alg": "RS384", "kid": "../../keys' OR 1=1--"},
                _claims(live, cid),
                KEY,
                algorithms=["RS384"],
            ),
            "No key for kid",
        ),
        (
            # A key of the attacker's, published at a jku of their own: never fetched.
            lambda live, cid: jwt.encode(
                {"alg": "RS384", "kid": "elsewhere", "jku": "http://127.0.0.1:9/jwks.json"},
                _claims(live, cid),
                RSAKey.generate_key(2048, parameters={"kid": "elsewhere"}),
                algorithms=["RS384"],
            ),
            "No key for kid",
        ),
        (lambda live, cid: "e" * 16_001, "longer than 16,000 characters"),
    ],
    ids=["alg-none", "hs256-public-key", "kid-injection", "jku-elsewhere", "oversized"],
)
def test_a_forged_assertion_gets_no_token(live, clinic, forge, words):
    with live.client() as client:
        response = _token_request(client, forge(live, clinic))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert words in response.json()["error_description"]
    assert _rows(live.pod, schema.backend_tokens) == 0


# --- deliveries (POST /fhir/$deliver) -----------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [
        ("application/fhir+ndjson", DEEP + b"\n", "nests deeper than"),
        (
            "application/fhir+ndjson",
            b'{"resourceType":"Patient","id":"\\ud800","identifier":[]}\n',
            "lone surrogate",
        ),
        ("application/fhir+json", DEEP, "nests deeper than"),
        (
            "application/fhir+json",
            b'{"resourceType":"Bundle","type":"transaction","entry":'
            b'[{"resource":{"resourceType":"Patient","id":"\\udc00"}}]}',
            "lone surrogate",
        ),
    ],
    ids=["ndjson-deep", "ndjson-surrogate", "bundle-deep", "bundle-surrogate"],
)
def test_a_hostile_delivery_is_refused_whole_with_a_reason(live, clinic, content_type, body, words):
    with live.client() as client:
        token = _token_request(client, _assertion(live, clinic)).json()["access_token"]
        response = client.post(
            "/fhir/$deliver",
            content=body,
            headers={"authorization": f"Bearer {token}", "content-type": content_type},
        )
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]
    assert _rows(live.pod, schema.resources) == 0


# --- web forms and pages ------------------------------------------------------------------


def _logged_in(live, client) -> str:
    add_person(live.pod.engine, "anna")
    add_person(live.pod.engine, "erik")
    login_with_form(client, "anna", next_path="/sharing")
    page = client.get("/sharing", headers=HTML)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/sharing/delegates", {"username": "erik\x00", "role": "view"}),
        ("/inbox/settings", {"email": "anna\x00@example.org"}),
        ("/sharing/links", {"label": "x\x00", "categories": "heart", "expires": "7"}),
    ],
    ids=["delegate", "inbox-email", "share-link-label"],
)
def test_a_nul_in_a_form_is_a_400_page_and_changes_nothing(live, path, fields):
    with live.client() as client:
        csrf = _logged_in(live, client)
        before = {t.name: _rows(live.pod, t) for t in (schema.delegations, schema.share_links)}
        response = client.post(path, data={**fields, "csrf_token": csrf}, headers=HTML)
        assert response.status_code == 400, response.text[:300]
        assert "NUL character" in response.text
        assert "text/html" in response.headers["content-type"]
        client.cookies.set("hp_lang", "sv")
        swedish = client.post(path, data={**fields, "csrf_token": csrf}, headers=HTML)
        assert "NUL-tecken" in swedish.text
    after = {t.name: _rows(live.pod, t) for t in (schema.delegations, schema.share_links)}
    assert after == before


def test_a_nul_in_a_query_string_is_a_400_not_a_500(live):
    with live.client() as client:
        _logged_in(live, client)
        for path in ("/inbox?kind=%00", "/records?q=%00", "/login?next=%00"):
            response = client.get(path, headers=HTML)
            assert response.status_code == 400, (path, response.status_code)
            assert "NUL character" in response.text


# --- imports of pod exports ---------------------------------------------------------------


def test_a_pod_export_whose_manifest_nests_too_deep_is_refused_by_name(
    tmp_path: Path, database_url: str
):
    bad = tmp_path / "deep.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("manifest.json", b"[" * 50_000 + b"]" * 50_000)
        archive.writestr("csv/persons.csv", "id\n1\n")
    home = ["--home", str(tmp_path / "home"), "--database-url", database_url]
    runner = CliRunner()
    assert runner.invoke(cli, [*home, "init"]).exit_code == 0
    result = runner.invoke(cli, [*home, "import", str(bad)])
    assert result.exit_code == 1, result.output
    assert "manifest.json is not JSON (it nests deeper than 100 levels)" in result.output
    assert "Traceback" not in result.output


# --- the operator's page and ids past the database's integers ------------------------------


@pytest.fixture
def operator(live):
    """anna is the pod's operator, logged in; a research actor sponsors studies."""
    from healthpod import accounts
    from healthpod.consent import actors

    anna = add_person(live.pod.engine, "anna")
    with live.pod.engine.begin() as conn:
        accounts.set_operator(conn, anna, True, now_ms=now_ms())
        sponsor = actors.register(
            conn,
            name="Uppsala Steps",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now_ms(),
        ).actor.client_id
    with live.client() as client:
        login_with_form(client, "anna", next_path="/operator")
        yield client, sponsor


def _csrf(client, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page, headers=HTML).text)
    assert found
    return found.group(1)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("epsilon", "1e308", "from 0.001 to 1000"),
        ("epsilon", "nan", "from 0.001 to 1000"),
        ("epsilon", "inf", "from 0.001 to 1000"),
        ("epsilon", "1e-300", "from 0.001 to 1000"),
        ("min_cohort", "2147483648", "at most 100,000,000"),
    ],
)
def test_a_study_the_operator_page_cannot_show_is_never_stored(live, operator, field, value, words):
    """A budget of 1e308 was stored and then broke every render of /operator (a 500)."""
    client, sponsor = operator
    plan = {
        "title": "Walking",
        "sponsor": sponsor,
        "duo": "HMB",
        "category": "activity",
        "granularity": "daily",
        "data_from": "2025-01-01",
        "data_to": "2026-01-01",
        "min_cohort": "2",
        "epsilon": "2",
        "releases": "aggregates",
        field: value,
    }
    response = client.post(
        "/operator/studies", data={**plan, "csrf_token": _csrf(client, "/operator")}, headers=HTML
    )
    assert response.status_code == 400, response.text[:300]
    assert "The study was not created" in response.text and words in response.text
    assert _rows(live.pod, schema.studies) == 0
    assert client.get("/operator", headers=HTML).status_code == 200


def test_ids_and_pages_past_the_databases_integers_are_a_400_not_a_500(live, operator):
    client, _sponsor = operator
    csrf = _csrf(client, "/operator")
    huge = "2147483648"
    for path in (
        f"/operator/studies/{huge}/open",
        f"/operator/studies/{huge}/close",
        f"/sharing/links/{huge}/revoke",
        f"/sharing/delegates/{huge}/revoke",
    ):
        response = client.post(path, data={"csrf_token": csrf}, headers=HTML)
        assert response.status_code == 400, (path, response.status_code)
    assert client.get(f"/records?page={huge}0", headers=HTML).status_code == 400
    # anna has no steps: the page says so (404), as it does for page 1
    assert client.get(f"/type/steps?page={huge}0", headers=HTML).status_code == 404
