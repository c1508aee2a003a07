"""`/docs` renders the API's operations in a real Chromium, offline, under the app's CSP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`healthpod serve` over a freshly initialised pod: the docs need no data."""
    home = tmp_path_factory.mktemp("docs-pod")
    healthpod = [sys.executable, "-m", "healthpod", "--home", str(home)]
    subprocess.run([*healthpod, "init"], check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*healthpod, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("healthpod serve did not start")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_api_docs_show_operations_with_no_csp_violation_and_no_outside_request(
    page: Page, empty_server: str, screenshots: Path
) -> None:
    violations: list[str] = []
    outside: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((empty_server, "data:"))
            else None
        ),
    )
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = page.goto(f"{empty_server}/docs")
    assert response is not None and response.ok
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("healthpod")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 5
    expect(page.locator(".opblock-summary-path", has_text="/api/insights/stats")).not_to_have_count(
        0
    )
    operations.first.locator(".opblock-summary").click()  # the operation opens
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.screenshot(path=screenshots / "api-docs.png", full_page=False)
    assert page.evaluate("window.__csp") == []
    assert violations == []
    assert outside == []
