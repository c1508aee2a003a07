"""A real OpenID provider for the e-ID tests: node-oidc-provider (tests/oidc_provider) on a free
port, and a helper that signs in at its own login and consent pages over HTTP."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from healthpod.config import IdentityProvider

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_ID, CLIENT_SECRET = "healthpod-test", "healthpod-test-secret-0123456789"
TESTSERVER_CALLBACK = "http://testserver/login/eid/callback"


@dataclass(frozen=True)
class RunningProvider:
    issuer: str
    process: subprocess.Popen[str]

    def settings_entry(self, name: str = "test", label: str = "Test e-ID") -> IdentityProvider:
        return IdentityProvider(
            name=name,
            label=label,
            issuer=self.issuer,  # type: ignore[arg-type]
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
        )


def start_provider(redirect_uris: list[str]) -> RunningProvider:
    """Start the provider on a free port; it serves until the process is ended."""
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        message = "the test OpenID provider needs node and `npm ci` in tests/oidc_provider"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=PROVIDER_DIR,
        env={**os.environ, "PORT": "0", "REDIRECT_URIS": ",".join(redirect_uris)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening "):
        process.kill()
        raise RuntimeError(f"the test OpenID provider did not start: {line!r}")
    return RunningProvider(line.split()[1], process)


def stop_provider(provider: RunningProvider) -> None:
    provider.process.terminate()
    try:
        provider.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        provider.process.kill()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_INPUT = re.compile(r"<input[^>]*>")
_NAME = re.compile(r'name="([^"]+)"')
_VALUE = re.compile(r'value="([^"]*)"')


def sign_in_at_provider(authorization_url: str, login: str, *, until: str) -> str:
    """Drive the provider's own login and consent pages over HTTP as a browser would; return
    the URL it sends the browser back to (the one starting with `until`)."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url, method, data = authorization_url, "GET", None
        for _ in range(20):
            response = browser.request(method, url, data=data)
            if response.status_code in (302, 303):
                url, method, data = urljoin(url, response.headers["location"]), "GET", None
                if url.startswith(until):
                    return url
                continue
            assert response.status_code == 200, response.text
            form = _FORM.search(response.text)
            assert form, response.text
            fields = {}
            for tag in _INPUT.findall(form[2]):
                name, value = _NAME.search(tag), _VALUE.search(tag)
                if name:
                    fields[name[1]] = html.unescape(value[1]) if value else ""
            if "login" in fields:
                fields.update(login=login, password="any password")
            url, method, data = urljoin(url, html.unescape(form[1])), "POST", fields
    raise AssertionError("the provider never sent the browser back")
