"""Real clients, unchanged, against `healthpod serve` in a subprocess over real HTTP.

fhirclient (SMART's Python client) and fhirpy go through discovery, the authorize flow (the
test plays the browser: it logs in and allows through the HTML forms), token exchange, searches
with paging, and reads; after the person revokes, the very next call fails and the refresh
token is refused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.config import Settings
from healthpod.consent import audit
from healthpod.consent import store as consent_store
from healthpod.keys import access_log_key
from healthpod.store import schema
from healthpod.store.engine import make_engine
from smart_support import (
    PASSWORD,
    REDIRECT,
    add_actor,
    add_blood_pressure,
    add_person,
    add_samples,
    read_form,
)

pytestmark = pytest.mark.slow
T0 = 1_704_067_200_000
SCOPE = "patient/Patient.rs patient/Observation.rs openid fhirUser offline_access"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[dict]:
    """A pod with Anna's heart rate and blood pressure, served by `healthpod serve`."""
    home = tmp_path / "home"
    engine = make_engine(database_url)
    # The server signs the access log with the key in its home: this engine uses the same.
    audit.use_key(engine, access_log_key(Settings(home=home, database_url=database_url)))
    anna = add_person(engine, "anna")
    add_samples(engine, anna, "heart_rate", [(T0 + i * 60_000, 50 + i % 40) for i in range(25)])
    add_blood_pressure(engine, anna, T0 + 3_600_000, 121, 79)
    app = add_actor(engine, "Pulse App").actor
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPOD_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "healthpod",
            "--home",
            str(home),
            "--database-url",
            database_url,
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base, process)
        yield {"base": base, "fhir": f"{base}/fhir", "app": app, "anna": anna, "engine": engine}
    finally:
        process.terminate()
        process.wait(timeout=10)
        engine.dispose()


def _wait_for(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120  # a loaded CI machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("healthpod serve did not start")


def _browser_allows(authorize_url: str, base: str) -> str:
    """Play the person's browser: log in on the HTML form, allow on the consent form."""
    with httpx.Client(base_url=base, follow_redirects=False) as browser:
        response = browser.get(authorize_url)
        assert response.status_code == 303, response.text
        login_page = browser.get(response.headers["location"])
        form = read_form(login_page.text)
        fields = dict(form.fields) | {"username": "anna", "password": PASSWORD}
        response = browser.post(form.action, data=fields)
        assert response.status_code == 303, response.text
        consent_page = browser.get(response.headers["location"])
        assert consent_page.status_code == 200, consent_page.text
        form = read_form(consent_page.text)
        fields = {}
        for name, value in [*form.fields, ("decision", "allow")]:
            fields.setdefault(name, []).append(value)
        response = browser.post(form.action, data=fields)
        assert response.status_code in (302, 303), response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT)
        return location


def _revoke(server: dict) -> None:
    engine = server["engine"]
    with as_superuser(engine) as conn:
        consent_id = conn.scalar(
            select(schema.consents.c.id).where(schema.consents.c.person_id == server["anna"])
        )
        consent_store.revoke(conn, server["anna"], consent_id, now_ms=time.time_ns() // 10**6)


def test_fhirclient_completes_the_smart_flow_and_stops_after_revocation(server):
    from fhirclient import client
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient
    from fhirclient.server import FHIRPermissionDeniedException

    smart = client.FHIRClient(
        settings={
            "app_id": server["app"].client_id,
            "api_base": server["fhir"],
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
        }
    )
    authorize_url = smart.authorize_url  # discovery through /metadata's oauth-uris
    assert authorize_url.startswith(f"{server['base']}/oauth/authorize?")
    callback = _browser_allows(authorize_url, server["base"])
    smart.handle_callback(callback)
    assert smart.ready and smart.patient_id == str(server["anna"])

    patient = Patient.read(smart.patient_id, smart.server)
    assert patient.name[0].text == "Anna"
    search = Observation.where(struct={"code": "http://loinc.org|8867-4", "_count": "10"})
    found = list(search.perform_resources_iter(smart.server))  # follows the next links
    assert len(found) == 25
    assert {o.valueQuantity.code for o in found} == {"/min"}
    panel = list(
        Observation.where(struct={"code": "http://loinc.org|85354-9"}).perform_resources_iter(
            smart.server
        )
    )
    assert [c.valueQuantity.value for c in panel[0].component] == [121, 79]
    again = Observation.read(found[0].id, smart.server)
    assert again.id == found[0].id

    _revoke(server)
    with pytest.raises(FHIRPermissionDeniedException):
        next(Observation.where(struct={"_count": "1"}).perform_iter(smart.server))
    with pytest.raises(requests.HTTPError) as no_refresh:
        smart.reauthorize()
    assert no_refresh.value.response.status_code == 400
    assert no_refresh.value.response.json()["error"] == "invalid_grant"


def _tokens(server: dict) -> dict:
    """The SMART flow by hand (as a browser app would), for fhirpy, which does no OAuth."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlencode

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    config = httpx.get(f"{server['base']}/.well-known/smart-configuration").json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    state = secrets.token_hex(8)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": server["app"].client_id,
            "redirect_uri": REDIRECT,
            "scope": "launch/patient " + SCOPE,
            "state": state,
            "aud": server["fhir"],
            "code_challenge": challenge.rstrip("="),
            "code_challenge_method": "S256",
        }
    )
    path = urlsplit(config["authorization_endpoint"]).path
    callback = parse_qs(urlsplit(_browser_allows(f"{path}?{query}", server["base"])).query)
    assert callback["state"] == [state]
    response = httpx.post(
        config["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": callback["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": server["app"].client_id,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_fhirpy_searches_pages_counts_and_reads(server):
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import ForbiddenError

    tokens = _tokens(server)
    fhir = SyncFHIRClient(server["fhir"], authorization=f"Bearer {tokens['access_token']}")
    heart = fhir.resources("Observation").search(code="http://loinc.org|8867-4").limit(7)
    everything = heart.fetch_all()  # follows next links; fhirpy checks they start with its base
    assert len(everything) == 25
    assert heart.count() == 25  # _count=0&_totalMethod=count
    first = fhir.reference("Observation", everything[0]["id"]).to_resource()
    assert first["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    newest = fhir.resources("Observation").sort("-date").limit(1).fetch()
    assert newest[0]["id"] == "bp-1" or newest[0]["effectiveDateTime"] >= first["effectiveDateTime"]
    patient = fhir.reference("Patient", tokens["patient"]).to_resource()
    assert patient["id"] == tokens["patient"]

    _revoke(server)
    with pytest.raises(ForbiddenError):
        fhir.resources("Observation").limit(1).fetch()
    refreshed = httpx.post(
        f"{server['base']}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": server["app"].client_id,
        },
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
