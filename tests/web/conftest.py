"""A web app over a real pod (SQLite file or PostgreSQL), driven in process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.pod import Pod

HTML = {"accept": "text/html"}


@pytest.fixture
def client(pod: Pod) -> Iterator[TestClient]:
    # The server runs uploads itself here on both engines; tests/jobs/ drive the queue and
    # `healthpod worker` processes on PostgreSQL.
    settings = pod.settings.model_copy(update={"jobs": "in-process"})
    with TestClient(create_app(settings, pod=pod), base_url="http://testserver") as test_client:
        yield test_client


def _csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture
def csrf_of():
    """`csrf_of(html)`: the CSRF token of the first form on a page."""
    return _csrf_of


USERNAME, PASSWORD = "anna", "correct horse battery"


@pytest.fixture
def account(pod: Pod) -> int:
    """An account for the pod's default person; returns the person id."""
    from healthpod import accounts
    from healthpod.pod import now_ms

    person_id = pod.person_id()
    with pod.engine.begin() as conn:
        accounts.create_account(conn, USERNAME, PASSWORD, person_id=person_id, now_ms=now_ms())
    return person_id


@pytest.fixture
def logged_in(client: TestClient, account: int) -> TestClient:
    """The client, logged in through the login form."""
    page = client.get("/login", headers=HTML)
    response = client.post(
        "/login",
        data={"csrf_token": _csrf_of(page.text), "username": USERNAME, "password": PASSWORD},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def ten_days(pod: Pod, tmp_path):
    """Ten days of the demo person's data, imported through the Apple Health importer."""
    from datetime import UTC, datetime

    from healthpod.demo_export import write_export
    from healthpod.ingest.run import import_file

    path = tmp_path / "export.xml"
    write_export(path, end=datetime.now(UTC), days=10)
    return import_file(pod, path)


def _download_export(client: TestClient, csrf: str, timeout_s: float = 120):
    """Start "Download everything", follow the job page until it is ready, download the zip."""
    import time

    started = client.post(
        "/data/export", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    job = started.headers["location"]
    deadline = time.monotonic() + timeout_s
    while True:
        page = client.get(job, headers={**HTML, "hx-request": "true"})
        assert page.status_code == 200
        if 'data-status="ready"' in page.text:
            break
        assert 'data-status="running"' in page.text, page.text
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.1)
    return client.get(f"{job}/download", headers=HTML)


@pytest.fixture
def download_export():
    """`download_export(client, csrf)`: the zip response of a finished export job."""
    return _download_export
