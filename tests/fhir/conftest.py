"""The FHIR API in process (TestClient) over a real pod, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.pod import Pod
from smart_support import BASE


@pytest.fixture
def client(pod: Pod) -> Iterator[TestClient]:
    with TestClient(create_app(pod.settings, pod=pod), base_url=BASE) as test_client:
        yield test_client
