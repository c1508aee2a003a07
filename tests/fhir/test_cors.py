"""CORS for browser SMART apps: off unless origins are configured, then only for those."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthpod.app import create_app
from healthpod.config import Settings, load_settings
from healthpod.errors import ConfigError
from healthpod.pod import Pod
from smart_support import BASE, FHIR, add_actor, add_person, add_samples, tokens_for

APP = "https://app.example"
T0 = 1_700_000_000_000


def _client(pod: Pod, origins: tuple[str, ...]) -> TestClient:
    settings = pod.settings.model_copy(update={"cors_origins": origins})
    return TestClient(create_app(settings, pod=Pod(settings, pod.engine)), base_url=BASE)


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get(f"{FHIR}/metadata", headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers
    assert response.json()["rest"][0]["security"]["cors"] is False
    preflight = client.options(
        f"{FHIR}/Observation",
        headers={"Origin": APP, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_a_configured_origin_can_search_with_a_bearer_token(pod: Pod) -> None:
    anna = add_person(pod.engine, "anna")
    add_samples(pod.engine, anna, "heart_rate", [(T0, 61.0)])
    actor = add_actor(pod.engine)
    with _client(pod, (APP,)) as client:
        preflight = client.options(
            f"{FHIR}/Observation",
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers

        body = tokens_for(client, actor.actor.client_id, "anna", "patient/Observation.rs")
        response = client.get(
            f"{FHIR}/Observation",
            headers={"Origin": APP, "Authorization": f"Bearer {body['access_token']}"},
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == APP
        assert response.json()["entry"][0]["resource"]["valueQuantity"]["value"] == 61
        assert client.get(f"{FHIR}/metadata").json()["rest"][0]["security"]["cors"] is True


def test_other_origins_get_no_cors_headers(pod: Pod) -> None:
    with _client(pod, (APP,)) as client:
        response = client.get(f"{FHIR}/metadata", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
        preflight = client.options(
            f"{FHIR}/Observation",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 400
        assert "access-control-allow-origin" not in preflight.headers


def test_origins_setting_is_comma_separated_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HEALTHPOD_CORS_ORIGINS", f"{APP}, http://localhost:3000")
    assert load_settings(home=tmp_path).cors_origins == (APP, "http://localhost:3000")
    for bad in ("*", "https://app.example/path", "app.example"):
        monkeypatch.setenv("HEALTHPOD_CORS_ORIGINS", bad)
        with pytest.raises(ConfigError, match="HEALTHPOD_CORS_ORIGINS"):
            load_settings(home=tmp_path)
    monkeypatch.delenv("HEALTHPOD_CORS_ORIGINS")
    assert Settings(home=tmp_path).cors_origins == ()
