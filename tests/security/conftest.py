"""A real uvicorn server in a thread over a real pod (SQLite file or PostgreSQL), on loopback.

The attacks in this folder go over real HTTP: chunked bodies, lying lengths, forwarded
addresses and cookies copied from one client to another behave as they do on the network.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import AnyHttpUrl

from healthpod.app import create_app
from healthpod.config import Settings
from healthpod.pod import Pod

sys.path.insert(0, str(Path(__file__).parents[1]))


class HttpClient(httpx.Client):
    """An httpx client that, like TestClient, knows the app (the smart_support helpers use it)."""

    def __init__(self, app: FastAPI, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.app = app


@dataclass
class Live:
    url: str
    app: FastAPI
    pod: Pod

    def client(self, **kwargs: object) -> HttpClient:
        return HttpClient(self.app, base_url=self.url, timeout=30, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings, pod: Pod) -> Iterator[Live]:
    """Run the app for `settings` on a free loopback port until the generator is closed."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    if "127.0.0.1:8000" in str(settings.base_url):
        settings = settings.model_copy(update={"base_url": AnyHttpUrl(url)})
    pod = Pod(settings=settings, engine=pod.engine)  # the test's database, these settings
    app = create_app(settings, pod=pod)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Live(url, app, pod)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(settings: Settings, pod: Pod) -> Iterator[Live]:
    yield from serve(settings, pod)


@pytest.fixture
def csrf_of():
    """`csrf_of(html)`: the CSRF token of the first form on a page."""

    def find(html: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, "the page has no form with a CSRF token"
        return match.group(1)

    return find


@pytest.fixture
def live_with(settings: Settings, pod: Pod) -> Iterator[Callable[..., Live]]:
    """`live_with(max_upload_mb=2, ...)`: a server whose settings differ from the test's."""
    running: list[Iterator[Live]] = []

    def start(**updates: object) -> Live:
        server = serve(settings.model_copy(update=updates), pod)
        running.append(server)
        return next(server)

    yield start
    for server in running:
        server.close()
