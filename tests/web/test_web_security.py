"""Security of the pages: headers, CSRF, redirects that stay on this site, login required."""

from __future__ import annotations

import pytest

from healthpod.web.security import safe_next

HTML = {"accept": "text/html"}


def test_every_page_has_the_security_headers(client):
    response = client.get("/login", headers=HTML)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_csrf_cookie_is_httponly_and_samesite(client):
    response = client.get("/login", headers=HTML)
    cookie = response.headers["set-cookie"]
    assert "hp_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_a_post_without_the_form_token_is_refused(client):
    client.get("/login", headers=HTML)
    response = client.post("/login", data={"username": "a", "password": "b"}, headers=HTML)
    assert response.status_code == 403
    assert "The form has expired" in response.text
    assert "Traceback" not in response.text


def test_a_post_from_another_site_is_refused(client, csrf_of):
    token = csrf_of(client.get("/login", headers=HTML).text)
    response = client.post(
        "/language",
        data={"csrf_token": token, "language": "sv"},
        headers={**HTML, "origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_pages_send_a_browser_without_session_to_login_and_back(client):
    response = client.get("/?x=1", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F%3Fx%3D1"


def test_unknown_page_is_a_page_not_a_stack_trace(client):
    response = client.get("/no-such-page", headers=HTML)
    assert response.status_code == 404
    assert "Page not found" in response.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/sharing", "/sharing"),
        ("/type/steps?bucket=week", "/type/steps?bucket=week"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_only_goes_to_local_paths(target, expected):
    assert safe_next(target) == expected


def test_language_follows_the_browser_and_the_choice(client, csrf_of):
    page = client.get("/login", headers={**HTML, "accept-language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert '<html lang="sv">' in page.text and "Logga in" in page.text
    token = csrf_of(page.text)
    chosen = client.post(
        "/language",
        data={"csrf_token": token, "language": "en", "next": "/login"},
        headers=HTML,
        follow_redirects=False,
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/login"
    again = client.get("/login", headers={**HTML, "accept-language": "sv"})
    assert '<html lang="en">' in again.text


def test_a_malformed_path_parameter_is_a_page_not_json(logged_in, csrf_of):
    token = csrf_of(logged_in.get("/sharing", headers=HTML).text)
    response = logged_in.post(
        "/sharing/not-a-number/revoke", data={"csrf_token": token}, headers=HTML
    )
    assert response.status_code == 400
    assert "<html" in response.text and "Traceback" not in response.text


def test_api_errors_stay_json(client):
    response = client.get("/fhir/Observation?date=notadate", headers={"accept": "application/json"})
    assert response.headers["content-type"].startswith(("application/json", "application/fhir"))
