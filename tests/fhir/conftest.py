"""The FHIR API in process (TestClient) over a real pod, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.pod import Pod

# The shared helpers (tests/smart_support.py) for these tests and the ones in tests/oauth.
sys.path.insert(0, str(Path(__file__).parents[1]))
from smart_support import BASE


@pytest.fixture
def client(pod: Pod) -> Iterator[TestClient]:
    # One request thread, so short handlers run on the event loop here; the tests through
    # `healthpod serve` (tests/oauth) run the default pool of four.
    settings = pod.settings.model_copy(update={"server_threads": 1})
    app = create_app(settings, pod=Pod(settings, pod.engine))
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client
