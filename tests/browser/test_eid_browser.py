"""Signing in with an e-ID in Chromium: a real `healthpod serve` that trusts a real OpenID
provider (node-oidc-provider), through the provider's own login and consent pages, then the
region's terms, in English and in Swedish."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

sys.path.insert(0, str(Path(__file__).parents[1]))
from oidc_support import CLIENT_ID, CLIENT_SECRET, start_provider, stop_provider


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a busy machine starts it slowly
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read().decode() if server.stdout else ""
            raise RuntimeError(f"healthpod serve exited: {output}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("healthpod serve did not start within 120 s")


@pytest.fixture(scope="module")
def eid_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("eid-pod")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    provider = start_provider([f"{url}/login/eid/callback"])
    settings = [
        {
            "name": "test",
            "label": "Test e-ID",
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    ]
    env = {
        **os.environ,
        "HEALTHPOD_LOG_LEVEL": "WARNING",
        "HEALTHPOD_BASE_URL": url,
        "HEALTHPOD_IDENTITY_PROVIDERS": json.dumps(settings),
    }
    subprocess.run(
        [sys.executable, "-m", "healthpod", "--home", str(home), "init"],
        check=True,
        capture_output=True,
        env=env,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "healthpod", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        _wait_for_server(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        stop_provider(provider)


def _sign_in_at_provider(page: Page, login: str) -> None:
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent page


@pytest.mark.parametrize(
    ("language", "login", "button", "accept", "heading", "number"),
    [
        (
            "en",
            "tolvan",
            "Sign in with Test e-ID",
            "I accept the terms and join",
            "The region's terms",
            "19121212-1212",
        ),
        (
            "sv",
            "anna",
            "Logga in med Test e-ID",
            "Jag godkänner villkoren och går med",
            "Regionens villkor",
            "19811228-9874",
        ),
    ],
)
def test_sign_in_with_eid_joins_and_signs_in_again(
    page: Page, eid_server, screenshots, language, login, button, accept, heading, number
):
    page.context.add_cookies([{"name": "hp_lang", "value": language, "url": eid_server}])
    page.goto(f"{eid_server}/records")
    page.get_by_role("link", name=button).click()
    _sign_in_at_provider(page, login)
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_text(number)).to_be_visible()
    page.screenshot(path=str(screenshots / f"eid-terms-{language}.png"), full_page=True)
    page.get_by_role("button", name=accept).click()
    page.wait_for_url(f"{eid_server}/records")

    # Signed out, the same e-ID comes straight back in: no terms the second time.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "hp_lang", "value": language, "url": eid_server}])
    page.goto(f"{eid_server}/login")
    page.get_by_role("link", name=button).click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{eid_server}/")
    expect(page.get_by_role("heading", name=heading)).to_have_count(0)
