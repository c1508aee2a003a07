"""A real OpenID provider (node-oidc-provider, tests/oidc_provider) and a pod that trusts it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.config import Settings
from healthpod.pod import Pod

sys.path.insert(0, str(Path(__file__).parents[1]))
from oidc_support import (
    TESTSERVER_CALLBACK,
    RunningProvider,
    sign_in_at_provider,
    start_provider,
    stop_provider,
)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[RunningProvider]:
    running = start_provider([TESTSERVER_CALLBACK])
    yield running
    stop_provider(running)


@pytest.fixture
def eid_pod(tmp_path: Path, database_url: str, oidc_provider: RunningProvider) -> Iterator[Pod]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        base_url="http://testserver",  # type: ignore[arg-type]
        identity_providers=(oidc_provider.settings_entry(),),
    )
    opened = Pod.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def eid_client(eid_pod: Pod) -> Iterator[TestClient]:
    with TestClient(create_app(eid_pod.settings, pod=eid_pod), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def provider_sign_in() -> Callable[..., str]:
    return sign_in_at_provider
