"""Attacks on the running server over real HTTP: bodies, headers, dates, redirect URIs, files.

Each case is sent by a real client to uvicorn on loopback, on SQLite and on PostgreSQL, and each
must end in a clear 4xx (an OperationOutcome under /fhir), never a 500, with the security headers
on, and with nothing stored changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.config import Settings
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.web import body_limit
from smart_support import (
    PASSWORD,
    REDIRECT,
    add_actor,
    add_person,
    authorize_params,
    code_from,
    consent,
    login_with_form,
    pkce,
)

HTML = {"accept": "text/html"}
MB = 1024 * 1024


def _has_security_headers(response) -> None:
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"], response.url
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    if "/.well-known/" not in str(response.url) and "/static/" not in str(response.url):
        assert headers["cache-control"] == "no-store"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        step = min(size, total - sent)
        sent += step
        yield b"a" * step


def _token(live, client) -> str:
    """A bearer token for anna's own data, through the real consent screen."""
    app = add_actor(live.pod.engine).actor
    login_with_form(client, "anna", PASSWORD)
    verifier, challenge = pkce()
    params = authorize_params(
        app.client_id, "launch/patient patient/*.rs", challenge, aud=f"{live.url}/fhir"
    )
    code, _state = code_from(consent(client, params))
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": app.client_id,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def anna(pod):
    return add_person(pod.engine, "anna")


# --- request bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/login", HTML),
        ("/logout", HTML),
        ("/import", HTML),
        ("/oauth/token", {}),
        ("/fhir/Observation", {"content-type": "application/fhir+json"}),
        ("/api/consents", {}),
    ],
)
def test_an_oversized_body_is_refused_before_anything_reads_it(live, path, headers):
    with live.client() as client:
        declared = client.post(
            path, content=b"x" * (body_limit.MAX_BODY_BYTES + 1), headers=headers
        )
        chunked = client.post(path, content=_chunks(body_limit.MAX_BODY_BYTES + 1), headers=headers)
    for response in (declared, chunked):
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
        _has_security_headers(response)
        # Not the CSRF refusal, not a login redirect, not a bearer challenge: the size came first.
        assert "form has expired" not in response.text
        assert "www-authenticate" not in response.headers
    if path.startswith("/fhir"):
        assert chunked.json()["resourceType"] == "OperationOutcome"
        assert chunked.json()["issue"][0]["code"] == "too-costly"


def test_a_small_chunked_body_still_reaches_the_form(live):
    with live.client() as client:
        client.get("/login", headers=HTML)
        response = client.post(
            "/login",
            content=iter([b"username=a&", b"password=b"]),
            headers={**HTML, "content-type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 403 and "form has expired" in response.text


def _upload(client, csrf_of, size: int, *, chunked: bool):
    token = csrf_of(client.get("/import", headers=HTML, follow_redirects=True).text)
    boundary = "hpboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        'filename="export.xml"\r\nContent-Type: text/xml\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {**HTML, "content-type": f"multipart/form-data; boundary={boundary}"}
    if chunked:
        content = iter([head, *_chunks(size), tail])
        return client.post("/import", content=content, headers=headers, follow_redirects=False)
    body = head + b"a" * size + tail
    return client.post("/import", content=body, headers=headers, follow_redirects=False)


def _imports(pod) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.imports)))


@pytest.mark.parametrize("chunked", [False, True])
def test_only_a_logged_in_upload_gets_the_large_limit(live_with, anna, csrf_of, chunked):
    live = live_with(max_upload_mb=2)
    with live.client() as stranger:
        refused = _upload(stranger, csrf_of, 1536 * 1024, chunked=chunked)
        assert refused.status_code == 413 and "<html" in refused.text
    with live.client() as owner:
        login_with_form(owner, "anna", PASSWORD)
        # 1.5 MB: over the limit for everyone else, under this pod's 2 MB for uploads.
        accepted = _upload(owner, csrf_of, 1536 * 1024, chunked=chunked)
        assert accepted.status_code == 303, accepted.text[:300]
        assert accepted.headers["location"].startswith("/import/jobs/")
        uploads = live.app.state.pod.settings.home / "uploads"
        before = sorted(uploads.iterdir())
        too_big = _upload(owner, csrf_of, 3 * MB, chunked=chunked)
        assert too_big.status_code == 413, too_big.text[:300]
        _has_security_headers(too_big)
        assert "larger than this pod accepts" in too_big.text
        assert sorted(uploads.iterdir()) == before  # no job started, no file kept


# --- security headers on every response ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/login", 200),
        ("GET", "/healthz", 200),
        ("GET", "/fhir/metadata", 200),
        ("GET", "/fhir/no/such/path/here", 404),
        ("GET", "/fhir/Nope", 404),
        ("DELETE", "/fhir/metadata", 405),
        ("PUT", "/fhir/Observation", 405),
        ("GET", "/fhir/Observation", 401),
        ("GET", "/api/consents", 403),
        ("GET", "/no-such-page", 404),
        ("POST", "/oauth/token", 400),
        ("GET", "/.well-known/smart-configuration", 200),
    ],
)
def test_every_response_carries_the_security_headers(live, method, path, status):
    with live.client() as client:
        response = client.request(method, path)
    assert response.status_code == status, response.text[:200]
    _has_security_headers(response)
    if path.startswith("/fhir") and status >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"


# --- extreme dates -------------------------------------------------------------------------


EXTREME_DATES = [
    "0001-01-01T00:00+01:00",
    "9999-12-31T23:59-01:00",
    "ge0001-01-01T00:00:00+14:00",
    "lt9999-12-31T23:59:59.999-12:00",
    "9999",
    "le9999-12-31",
    "10000-01-01",
    "0000-01-01",
    "2024-02-30",
    "2024-01-01T25:00Z",
    "2024-01-01T23:59:60Z",
    "2024-01-01T00:00+15:00",
]


@pytest.mark.parametrize("value", EXTREME_DATES)
def test_extreme_dates_in_every_search_are_a_400(live, anna, value):
    with live.client() as client:
        bearer = {"authorization": f"Bearer {_token(live, client)}"}
        urls = [
            ("/fhir/Observation", {"date": value}),
            ("/fhir/Observation", {"_lastUpdated": value}),
            ("/fhir/Condition", {"date": value}),
            ("/fhir/Condition", {"_lastUpdated": value}),
            ("/fhir/$export", {"_since": value}),
            ("/fhir/Patient/$export", {"_since": value}),
        ]
        for path, params in urls:
            headers = {**bearer, "accept": "application/fhir+json", "prefer": "respond-async"}
            response = client.get(path, params=params, headers=headers)
            assert response.status_code == 400, (path, params, response.text[:300])
            outcome = response.json()
            assert outcome["resourceType"] == "OperationOutcome", outcome
            assert "Something went wrong" not in response.text
            _has_security_headers(response)


def test_the_earliest_and_latest_representable_dates_still_search(live, anna):
    with live.client() as client:
        bearer = {"authorization": f"Bearer {_token(live, client)}"}
        for value in ("ge0001-01-01", "le9999-12-30", "ge0001-01-01T00:00Z"):
            response = client.get("/fhir/Observation", params={"date": value}, headers=bearer)
            assert response.status_code == 200, (value, response.text[:300])


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": "9999-12-31"},
        {"to": "0001-01-01"},
        {"from": "2024-02-30"},
        {"bucket": "week", "from": "0001-01-01"},
    ],
)
def test_extreme_dates_on_pages_are_never_a_500(live, anna, params):
    with live.client() as client:
        login_with_form(client, "anna", PASSWORD)
        for path in ("/type/steps", "/access-log", "/records"):
            response = client.get(path, params=params, headers=HTML)
            assert response.status_code < 500, (path, params, response.text[:300])
            _has_security_headers(response)


@pytest.mark.parametrize("field", ["data_from", "data_to", "valid_until"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "10000-01-01"])
def test_extreme_dates_on_the_consent_screen_are_never_a_500(live, anna, field, day):
    app = add_actor(live.pod.engine).actor
    with live.client() as client:
        login_with_form(client, "anna", PASSWORD)
        params = authorize_params(
            app.client_id, "launch/patient patient/*.rs", pkce()[1], aud=f"{live.url}/fhir"
        )

        def change(fields):
            return [(k, v) for k, v in fields if k != field] + [(field, day)]

        response = consent(client, params, change=change)
    assert response.status_code in (302, 303, 400), response.text[:300]
    if day != "0001-01-01" or field == "valid_until":
        assert response.status_code == 400
    _has_security_headers(response)


# --- redirect URIs -------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ['"', "\\", "\x01", "é", "\u202e"])
def test_an_odd_response_type_is_a_400_page(live, anna, odd):
    app = add_actor(live.pod.engine).actor
    with live.client() as client:
        login_with_form(client, "anna", PASSWORD)
        params = authorize_params(
            app.client_id, "launch/patient", pkce()[1], response_type="code" + odd
        )
        params["aud"] = f"{live.url}/fhir"
        response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    _has_security_headers(response)


def test_static_files_stay_cacheable(live):
    with live.client() as client:
        response = client.get("/static/favicon.svg")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")


@pytest.mark.parametrize(
    "uri",
    [
        REDIRECT + '"><script>alert(1)</script>',
        REDIRECT + "\\..\\evil",
        "http://127.0.0.1:9999\\@evil.example/callback",
        REDIRECT + "\r\nSet-Cookie: hp_session=x",
        REDIRECT + "\x00",
        REDIRECT + "\x7f",
        "'javascript:alert(1)'",
        "javascript:alert(document.cookie)",
        "\u202ehttps://evil.example",
    ],
)
def test_an_unregistered_redirect_uri_with_odd_characters_is_a_400(live, anna, uri):
    app = add_actor(live.pod.engine).actor
    with live.client() as client:
        login_with_form(client, "anna", PASSWORD)
        params = authorize_params(app.client_id, "launch/patient", pkce()[1], redirect_uri=uri)
        params["aud"] = f"{live.url}/fhir"
        response = client.get("/oauth/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert "<script>alert" not in response.text
    _has_security_headers(response)


# --- files ---------------------------------------------------------------------------------


def test_a_new_pod_is_private_to_its_owner(tmp_path):
    home = tmp_path / "new" / "pod"
    pod = Pod.open(Settings(home=home), check=False)
    try:
        from healthpod.store import migrate

        migrate.upgrade(pod.engine)
        with as_superuser(pod.engine) as conn:  # WAL mode: the -wal and -shm files exist now
            conn.exec_driver_sql("SELECT 1")
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in home.iterdir()}
            assert {"healthpod.db", "healthpod.db-wal", "healthpod.db-shm"} <= set(modes)
        assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
        for name in ("healthpod.db", "healthpod.db-wal", "healthpod.db-shm"):
            assert modes[name] == 0o600, (name, oct(modes[name]))
    finally:
        pod.close()


def test_init_makes_a_private_pod_with_a_private_key(tmp_path):
    from click.testing import CliRunner

    from healthpod.cli import cli

    home = tmp_path / "pod"
    result = CliRunner().invoke(cli, ["--home", str(home), "init"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    for path in home.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path.name
