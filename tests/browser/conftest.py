"""A real `healthpod serve` on a free port over a demo pod, driven by Debian's Chromium.

The pod is made once per session with `healthpod demo --no-serve` (a year of data, the bundled
exports, two actors with consents) plus one SMART app for the revoke test. Screenshots go to
test-output/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("HEALTHPOD_TEST_CHROMIUM", "/usr/bin/chromium")
REDIRECT_PORT = 9  # nothing listens there; the test intercepts the redirect in the browser
USERNAME, PASSWORD = "demo", "healthpod-demo"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-base-url's fixture, whose class-based form warns on current pytest."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI: none at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (set HEALTHPOD_TEST_CHROMIUM)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1200, "height": 900}, "locale": "en-GB"}


def _healthpod(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "healthpod", "--home", str(home), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"},
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    home: Path
    client_id: str
    actor_id: int

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{REDIRECT_PORT}/callback"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("browser-pod")
    _healthpod(home, "demo", "--no-serve")
    app = json.loads(
        _healthpod(
            home,
            "actor",
            "add",
            "--name",
            "Pulse App",
            "--kind",
            "app",
            "--purpose",
            "dpv:ServiceProvision",
            "--redirect-uri",
            f"http://127.0.0.1:{REDIRECT_PORT}/callback",
            "--public",
            "--json",
        ).stdout
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "healthpod", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"},
    )
    try:
        _wait_for_server(url, server)
        actor_id = _actor_id(home, app["client_id"])
        yield LiveServer(url, home, app["client_id"], actor_id)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(autouse=True)
def no_saved_language(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts in the browser's language: a test that switched to Swedish while signed
    in saved that choice in the person's pod, which the next sign-in would bring back."""
    yield
    if "live_server" not in request.fixturenames:
        return
    server: LiveServer = request.getfixturevalue("live_server")
    with contextlib.closing(sqlite3.connect(server.home / "healthpod.db")) as db, db:
        db.execute("UPDATE persons SET language = NULL")


def _actor_id(home: Path, client_id: str) -> int:
    listing = json.loads(_healthpod(home, "actor", "list", "--json").stdout)
    rows = listing["actors"] if isinstance(listing, dict) else listing
    return int(next(row["id"] for row in rows if row["client_id"] == client_id))


def _wait_for_server(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read().decode() if server.stdout else ""
            raise RuntimeError(f"healthpod serve exited: {output}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("healthpod serve did not start within 60 s")


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def axe_source() -> str:
    vendor = ROOT / "src" / "healthpod" / "web" / "static" / "vendor"
    found = sorted(vendor.glob("axe-core-*/axe.min.js"))
    assert found, "axe-core is not vendored"
    return f"/static/vendor/{found[-1].parent.name}/axe.min.js"


def clean_copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    return target
