"""Deliveries from healthcare as jobs: `POST /fhir/$deliver` with `Prefer: respond-async`.

On SQLite the server runs the job in a thread; on PostgreSQL a `healthpod worker` process
runs it. The client gets 202 and a status URL, polls it with its token, and gets the same
OperationOutcome a synchronous delivery answers. Who must NOT see it: another client (404),
no token (401).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.consent.actors import register_backend
from healthpod.jobs import deliveries
from healthpod.pod import now_ms
from healthpod.store import schema

sys.path.insert(0, str(Path(__file__).parents[1] / "identity"))
import test_deliveries as synchronous
from job_support import Processes
from test_deliveries import (
    NDJSON,
    SYNTHEA,
    _assertion,
    _join,
    _sample_body,
    _token,
    _token_request,
)

# The synchronous delivery tests' fixtures: a pod that trusts the sample's identifier systems,
# a TestClient on it, and a clinic registered as a backend client.
delivery_pod = synchronous.delivery_pod
client = synchronous.client
clinic = synchronous.clinic

ASYNC = {"prefer": "respond-async"}
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "clinic-1", "alg": "RS384", "use": "sig"})


@pytest.fixture
def runs_jobs(delivery_pod, tmp_path):
    """Whoever runs queued jobs: a `healthpod worker` on PostgreSQL, the server on SQLite."""
    if delivery_pod.engine.dialect.name != "postgresql":
        yield
        return
    logs = tmp_path / "logs"
    logs.mkdir()
    url = delivery_pod.engine.url.render_as_string(hide_password=False)
    processes = Processes(delivery_pod.settings.home, url, logs, url)
    processes.env["HEALTHPOD_TRUSTED_IDENTIFIER_SYSTEMS"] = ",".join(
        delivery_pod.settings.trusted_identifier_systems
    )
    processes.worker()
    yield
    processes.stop_all()


def _other_clinic(pod) -> str:
    with pod.engine.begin() as conn:
        actor = register_backend(
            conn,
            name="Other Clinic",
            kind="clinic",
            purpose="dpv:ServiceProvision",
            jwks_uri=None,
            jwks={"keys": [OTHER_KEY.as_dict(private=False)]},
            now_ms=now_ms(),
        )
    return actor.client_id


def _poll(http, url: str, headers: dict[str, str]):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = http.get(url, headers=headers)
        if response.status_code != 202:
            return response
        assert response.headers["x-progress"] in ("waiting", "running")
        time.sleep(0.2)
    raise AssertionError("the delivery did not finish")


def test_a_queued_delivery_answers_202_then_its_outcome_to_its_client_only(
    delivery_pod, client, clinic, runs_jobs
):
    body, patients = _sample_body()
    joined = [
        _join(delivery_pod, f"Joined {i}", SYNTHEA, p["id"], actor_client_id=clinic)
        for i, p in enumerate(patients[:3])
    ]
    token = _token(client, clinic)
    accepted = client.post("/fhir/$deliver", content=body, headers={**NDJSON, **token, **ASYNC})
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.headers["content-location"]
    assert status_url.startswith("http://testserver/fhir/$deliver-status/")

    done = _poll(client, status_url, token)
    assert done.status_code == 200, done.text
    issues = done.json()["issue"]
    stored = [i for i in issues if i["severity"] == "information"]
    assert len(stored) == 3 and len([i for i in issues if "expression" in i]) == 13
    with as_superuser(delivery_pod.engine) as conn:  # what is stored, for every person
        for person_id in joined:
            count = conn.scalar(
                select(func.count())
                .select_from(schema.resources)
                .where(schema.resources.c.person_id == person_id)
            )
            assert count and count > 1
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 3
    job_id = status_url.rsplit("/", 1)[-1]
    assert not list((deliveries.jobs_dir(delivery_pod.settings.home) / job_id).glob("body.*"))

    other = _other_clinic(delivery_pod)
    other_token = _token_request(client, _assertion(other, key=OTHER_KEY))
    assert other_token.status_code == 200, other_token.text
    foreign = {"authorization": f"Bearer {other_token.json()['access_token']}"}
    assert client.get(status_url, headers=foreign).status_code == 404
    assert client.get(status_url).status_code == 401
    assert client.get("/fhir/$deliver-status/..%2F..%2Fetc", headers=token).status_code == 404


def test_a_queued_delivery_whose_file_vanished_is_refused_and_stores_nothing(
    delivery_pod, client, clinic
):
    job, path = deliveries.new_delivery(delivery_pod.settings.home, 1, "ndjson")
    deliveries.save(delivery_pod.settings.home, job)  # saved, its body never written
    done = deliveries.run_delivery(delivery_pod, job.id)
    assert done.status == "failed" and done.error == deliveries.VANISHED
    assert done.error_status == 404 and not path.exists()
    with delivery_pod.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == 0
