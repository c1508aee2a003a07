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
    with TestClient(create_app(pod.settings, pod=pod), base_url="http://testserver") as test_client:
        yield test_client


def _csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture
def csrf_of():
    """`csrf_of(html)`: the CSRF token of the first form on a page."""
    return _csrf_of
