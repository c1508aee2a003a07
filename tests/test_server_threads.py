"""HEALTHPOD_SERVER_THREADS: how many requests one server process works on at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from anyio import to_thread
from click.testing import CliRunner
from fastapi import Depends, Request
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.cli import cli
from healthpod.pod import Pod
from healthpod.short_requests import short_request


@pytest.mark.parametrize("threads", [1, 3])
def test_the_setting_sizes_the_request_thread_pool(pod: Pod, threads: int) -> None:
    settings = pod.settings.model_copy(update={"server_threads": threads})
    app = create_app(settings, pod=Pod(settings, pod.engine))

    @app.get("/_threads")
    async def _threads() -> int:
        return int(to_thread.current_default_thread_limiter().total_tokens)

    with TestClient(app) as client:  # runs the lifespan, as uvicorn does
        assert client.get("/_threads").json() == threads


@pytest.mark.parametrize("threads", [1, 3])
def test_short_requests_run_on_the_event_loop_only_with_one_thread(pod: Pod, threads: int) -> None:
    settings = pod.settings.model_copy(update={"server_threads": threads})
    app = create_app(settings, pod=Pod(settings, pod.engine))
    seen: dict[str, str] = {}

    @app.get("/_loop")
    async def _loop() -> None:
        seen["loop"] = threading.current_thread().name

    @app.get("/_short")
    @short_request
    def _short(request: Request) -> None:
        seen["short"] = threading.current_thread().name

    with TestClient(app) as client:
        client.get("/_loop")
        client.get("/_short")
    assert (seen["short"] == seen["loop"]) == (threads == 1)


def test_a_short_request_waits_its_turn_for_the_one_thread(pod: Pod) -> None:
    """With one request thread, a short request runs on the loop but not before a request
    that holds the thread: it must not jump the queue of pages waiting for it."""
    settings = pod.settings.model_copy(update={"server_threads": 1})
    app = create_app(settings, pod=Pod(settings, pod.engine))
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    @app.get("/_slow")
    def _slow() -> None:  # a plain handler: FastAPI's thread pool
        started.set()
        release.wait(10)
        order.append("slow")

    @app.get("/_short")
    @short_request
    def _short(request: Request) -> None:
        order.append("short")

    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        slow = pool.submit(client.get, "/_slow")
        assert started.wait(10)
        short = pool.submit(client.get, "/_short")
        time.sleep(0.3)
        assert order == []  # the short request waits while the thread is taken
        release.set()
        assert slow.result(10).status_code == short.result(10).status_code == 200
    assert order == ["slow", "short"]


def test_a_request_started_finishes_before_later_ones_overtake_it(pod: Pod) -> None:
    """A page is two hops through the thread pool (its dependency, then its handler). Once it
    started, requests that arrived later must not get the thread between its two hops: with
    one thread, GET requests finish in the order they arrived."""
    settings = pod.settings.model_copy(update={"server_threads": 1})
    app = create_app(settings, pod=Pod(settings, pod.engine))
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def held() -> None:  # a plain dependency: a hop of its own
        started.set()
        release.wait(10)

    @app.get("/_page", dependencies=[Depends(held)])
    def _page() -> None:
        order.append("page")

    @app.get("/_fhir")
    @short_request
    def _fhir(request: Request) -> None:
        order.append("fhir")

    @app.get("/_other")
    def _other() -> None:
        order.append("other")

    with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
        page = pool.submit(client.get, "/_page")
        assert started.wait(10)
        later = [pool.submit(client.get, "/_fhir")]
        time.sleep(0.2)
        later.append(pool.submit(client.get, "/_other"))
        time.sleep(0.2)
        release.set()
        assert [f.result(10).status_code for f in [page, *later]] == [200, 200, 200]
    assert order == ["page", "fhir", "other"]


def test_a_bad_thread_count_names_the_variable(tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path), "db", "status"], env={"HEALTHPOD_SERVER_THREADS": "0"}
    )
    assert result.exit_code == 2
    assert "HEALTHPOD_SERVER_THREADS" in result.stderr
