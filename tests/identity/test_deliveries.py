"""Deliveries from healthcare (SMART Backend Services + `POST /fhir/$deliver`), on SQLite and
PostgreSQL, with the 10-patient Bulk sample (13 Patients) from Synthea.

Who must NOT get anything: a patient whose person has not joined (no row anywhere, of any
table), a joined person who gave this provider no consent to write (only the refusal in their
own log), a patient whose identifiers match two persons; and no client with a replayed,
expired, misaddressed or foreign-signed assertion gets a token.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.app import create_app
from healthpod.config import Settings
from healthpod.consent import store as consent_store
from healthpod.consent.actors import register_backend
from healthpod.consent.model import Action, Scope
from healthpod.identity.numbers import IdentifierKeys
from healthpod.keys import identity_key
from healthpod.pod import Pod, now_ms
from healthpod.store import identities, persons, schema
from healthpod.vocabulary import Category

SAMPLE = Path(__file__).parents[3] / "shared" / "data" / "sample-bulk-fhir-datasets-10-patients"
SYNTHEA = "https://github.com/synthetichealth/synthea"
HOSPITAL = "http://hospital.smarthealthit.org"
TOKEN_URL = "http://testserver/oauth/token"
NDJSON = {"content-type": "application/fhir+ndjson"}


def _sample_dir() -> Path:
    for candidate in (
        Path(__file__).parents[1] / "data" / "fhir" / "bulk-10-patients",
        Path(__file__).parents[2].parent / "shared" / "data" / SAMPLE.name,
        Path(__file__).parents[3] / "shared" / "data" / SAMPLE.name,
    ):
        if candidate.is_dir():
            return candidate
    pytest.skip("the Bulk sample (shared/data/sample-bulk-fhir-datasets-10-patients) is absent")


@pytest.fixture
def delivery_pod(tmp_path: Path, database_url: str) -> Iterator[Pod]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=database_url,
        base_url="http://testserver",  # type: ignore[arg-type]
        trusted_identifier_systems=(SYNTHEA, HOSPITAL),
    )
    opened = Pod.open(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(delivery_pod: Pod) -> Iterator[TestClient]:
    app = create_app(delivery_pod.settings, pod=delivery_pod)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


KEY = RSAKey.generate_key(2048, parameters={"kid": "clinic-1", "alg": "RS384", "use": "sig"})


@pytest.fixture
def clinic(delivery_pod: Pod) -> str:
    """A care provider registered as a backend client with its JWKS by value; its client id."""
    with delivery_pod.engine.begin() as conn:
        actor = register_backend(
            conn,
            name="Region Clinic",
            kind="clinic",
            purpose="dpv:ServiceProvision",
            jwks_uri=None,
            jwks={"keys": [KEY.as_dict(private=False)]},
            now_ms=now_ms(),
        )
    return actor.client_id


def _assertion(client_id: str, *, key=KEY, **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": secrets.token_hex(16),
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(
        {"alg": "RS384", "kid": "clinic-1", "typ": "JWT"}, claims, key, algorithms=["RS384"]
    )


def _token_request(client: TestClient, assertion: str):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": "system/*.c",
        },
    )


def _token(client: TestClient, client_id: str) -> dict[str, str]:
    response = _token_request(client, _assertion(client_id))
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def _sample_body() -> tuple[bytes, list[dict]]:
    folder = _sample_dir()
    lines: list[bytes] = []
    for path in sorted(folder.glob("*.000.ndjson")):
        lines += [line for line in path.read_bytes().splitlines() if line.strip()]
    patients = [
        json.loads(line) for line in (folder / "Patient.000.ndjson").read_bytes().splitlines()
    ]
    return b"\n".join(lines) + b"\n", patients


def _join(pod: Pod, name: str, system: str, value: str, *, actor_client_id: str | None) -> int:
    keys = IdentifierKeys.from_key(identity_key(pod.settings))
    with pod.engine.begin() as conn:
        person_id = persons.add_new(conn, name, now_ms=now_ms())
        identities.add(
            conn,
            person_id,
            keys.hash(system, value),
            keys.encrypt(system, value),
            provider=None,
            terms_version="1",
            now_ms=now_ms(),
        )
        if actor_client_id is not None:
            actor = conn.execute(
                select(schema.actors.c.id).where(schema.actors.c.client_id == actor_client_id)
            ).scalar_one()
            consent_store.grant(
                conn,
                person_id,
                actor,
                Scope(
                    categories=frozenset(c.value for c in Category),
                    actions=frozenset({Action.WRITE}),
                ),
                valid_until_ms=None,
                now_ms=now_ms(),
            )
    return person_id


def _every_row_as_text(pod: Pod) -> str:
    parts: list[str] = []
    with as_superuser(pod.engine) as conn:
        for table in schema.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.append(json.dumps([str(v) for v in row]))
    return "\n".join(parts)


def _references_to(body: bytes, patient_id: str) -> int:
    return sum(1 for line in body.splitlines() if f"Patient/{patient_id}" in line.decode())


def test_a_bulk_delivery_lands_only_with_the_three_who_joined(delivery_pod, client, clinic):
    body, patients = _sample_body()
    joined = patients[:3]
    others = patients[3:]
    person_ids = [
        _join(delivery_pod, f"Joined {i}", SYNTHEA, p["id"], actor_client_id=clinic)
        for i, p in enumerate(joined)
    ]
    response = client.post(
        "/fhir/$deliver", content=body, headers={**NDJSON, **_token(client, clinic)}
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    by_patient = {i["expression"][0]: i for i in outcome["issue"] if "expression" in i}
    assert len(by_patient) == len(patients) == 13
    for patient in joined:
        issue = by_patient[f"Patient/{patient['id']}"]
        assert issue["severity"] == "information" and "stored" in issue["diagnostics"]
    for patient in others:
        issue = by_patient[f"Patient/{patient['id']}"]
        assert issue["severity"] == "error" and issue["code"] == "not-found"
        assert "not stored" in issue["diagnostics"]

    # Exactly the three have their records: their Patient and every resource naming them.
    with as_superuser(delivery_pod.engine) as conn:
        for person_id, patient in zip(person_ids, joined, strict=True):
            stored = conn.scalar(
                select(func.count())
                .select_from(schema.resources)
                .where(schema.resources.c.person_id == person_id)
            )
            assert stored == _references_to(body, patient["id"]) + 1
            delivered = (
                conn.execute(select(schema.imports).where(schema.imports.c.person_id == person_id))
                .mappings()
                .one()
            )
            assert (
                delivered["format"] == "fhir-delivery" and "Region Clinic" in delivered["filename"]
            )
            events = list(
                conn.execute(
                    select(schema.access_log.c.event, schema.access_log.c.outcome).where(
                        schema.access_log.c.person_id == person_id
                    )
                )
            )
            assert ("delivery", "allowed") in events
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == sum(
            _references_to(body, p["id"]) + 1 for p in joined
        )
        assert conn.scalar(select(func.count()).select_from(schema.persons)) == 3

    # The other ten leave no row anywhere: no id, identifier or name of theirs in any table.
    everything = _every_row_as_text(delivery_pod)
    for patient in others:
        assert patient["id"] not in everything
        for identifier in patient.get("identifier", []):
            assert identifier["value"] not in everything
        assert patient["name"][0]["family"] not in everything
    # Nor is the upload left on disk.
    assert not list((delivery_pod.settings.home / "deliveries").iterdir())


def test_delivering_twice_adds_nothing_new(delivery_pod, client, clinic):
    body, patients = _sample_body()
    person_id = _join(delivery_pod, "Joined", SYNTHEA, patients[0]["id"], actor_client_id=clinic)
    for _ in range(2):
        response = client.post(
            "/fhir/$deliver", content=body, headers={**NDJSON, **_token(client, clinic)}
        )
        assert response.status_code == 200
    with as_superuser(delivery_pod.engine) as conn:
        stored = conn.scalar(
            select(func.count())
            .select_from(schema.resources)
            .where(schema.resources.c.person_id == person_id)
        )
    assert stored == _references_to(body, patients[0]["id"]) + 1
    assert "already there" in response.text


def test_a_joined_person_without_a_consent_gets_only_the_refusal_in_their_log(
    delivery_pod, client, clinic
):
    body, patients = _sample_body()
    person_id = _join(delivery_pod, "No consent", SYNTHEA, patients[0]["id"], actor_client_id=None)
    response = client.post(
        "/fhir/$deliver", content=body, headers={**NDJSON, **_token(client, clinic)}
    )
    issue = next(
        i
        for i in response.json()["issue"]
        if i.get("expression") == [f"Patient/{patients[0]['id']}"]
    )
    # The same answer as for someone who never joined: the provider learns nothing.
    assert issue["code"] == "not-found" and "not stored" in issue["diagnostics"]
    with as_superuser(delivery_pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == 0
        assert conn.scalar(select(func.count()).select_from(schema.imports)) == 0
        denied = conn.execute(
            select(schema.access_log.c.event, schema.access_log.c.outcome).where(
                schema.access_log.c.person_id == person_id, schema.access_log.c.event == "delivery"
            )
        ).all()
    assert denied == [("delivery", "denied")]


def test_a_patient_matching_two_persons_is_not_stored(delivery_pod, client, clinic, caplog):
    body, patients = _sample_body()
    patient = patients[0]
    hospital_id = next(i["value"] for i in patient["identifier"] if i["system"] == HOSPITAL)
    _join(delivery_pod, "One", SYNTHEA, patient["id"], actor_client_id=clinic)
    _join(delivery_pod, "Two", HOSPITAL, hospital_id + "-x", actor_client_id=clinic)
    # The second person's identity is the same patient's hospital number:
    keys = IdentifierKeys.from_key(identity_key(delivery_pod.settings))
    with as_superuser(delivery_pod.engine) as conn:
        conn.execute(
            schema.identities.update()
            .where(schema.identities.c.value_hash == keys.hash(HOSPITAL, hospital_id + "-x"))
            .values(value_hash=keys.hash(HOSPITAL, hospital_id))
        )
    response = client.post(
        "/fhir/$deliver", content=body, headers={**NDJSON, **_token(client, clinic)}
    )
    issue = next(
        i for i in response.json()["issue"] if i.get("expression") == [f"Patient/{patient['id']}"]
    )
    assert issue["code"] == "multiple-matches" and "more than one person" in issue["diagnostics"]
    assert "matches 2 persons" in caplog.text
    with as_superuser(delivery_pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == 0


def test_a_transaction_bundle_is_delivered_too(delivery_pod, client, clinic):
    body, patients = _sample_body()
    patient = patients[1]
    person_id = _join(delivery_pod, "Bundle", SYNTHEA, patient["id"], actor_client_id=clinic)
    mine = [json.loads(line) for line in body.splitlines() if patient["id"] in line.decode()]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in mine
        ],
    }
    response = client.post(
        "/fhir/$deliver",
        content=json.dumps(bundle),
        headers={"content-type": "application/fhir+json", **_token(client, clinic)},
    )
    assert response.status_code == 200, response.text
    with as_superuser(delivery_pod.engine) as conn:
        stored = conn.scalar(
            select(func.count())
            .select_from(schema.resources)
            .where(schema.resources.c.person_id == person_id)
        )
    assert stored == len(mine)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"resourceType":"Patient","id":"a"}\nnot json\n', "application/fhir+ndjson", 400),
        (b'{"resourceType":"Patient","id":"a"}', "application/fhir+json", 400),
        (b"", "application/fhir+ndjson", 400),
        (b"{}", "text/plain", 415),
    ],
    ids=["bad-line", "not-a-bundle", "empty", "wrong-type"],
)
def test_a_broken_delivery_is_refused_whole(
    delivery_pod, client, clinic, body, content_type, status
):
    _join(delivery_pod, "Joined", SYNTHEA, "a", actor_client_id=clinic)
    before = _every_row_as_text(delivery_pod)
    response = client.post(
        "/fhir/$deliver",
        content=body,
        headers={"content-type": content_type, **_token(client, clinic)},
    )
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    after = _every_row_as_text(delivery_pod)
    assert after.count("\n") - before.count("\n") <= 2  # only the token and its jti
    with as_superuser(delivery_pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.resources)) == 0


def test_no_token_no_delivery(client):
    response = client.post("/fhir/$deliver", content=b"{}", headers=NDJSON)
    assert response.status_code == 401
    response = client.post(
        "/fhir/$deliver", content=b"{}", headers={**NDJSON, "authorization": "Bearer made-up"}
    )
    assert response.status_code == 401


def test_a_replayed_assertion_is_refused(client, clinic, caplog):
    assertion = _assertion(clinic)
    assert _token_request(client, assertion).status_code == 200
    again = _token_request(client, assertion)
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert "jti was used before" in again.json()["error_description"]
    assert "reason=the assertion's jti was used before" in caplog.text


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "http://elsewhere.example/token"}, "bad or missing claim aud"),
        ({"exp": int(time.time()) - 600}, "expired assertion"),
        ({"exp": int(time.time()) + 3600}, "more than five minutes ahead"),
        ({"jti": None}, "bad or missing claim jti"),
        ({"sub": "someone-else"}, "bad or missing claim sub"),
        ({"key": RSAKey.generate_key(2048)}, "bad signature"),
    ],
    ids=["aud", "expired", "far-exp", "no-jti", "sub", "foreign-key"],
)
def test_a_bad_assertion_gets_no_token(delivery_pod, client, clinic, changes, reason):
    changes = dict(changes)  # the parameter is shared by the SQLite and PostgreSQL runs
    key = changes.pop("key", KEY)
    response = _token_request(client, _assertion(clinic, key=key, **changes))
    assert response.status_code == 401, response.text
    assert reason in response.json()["error_description"]
    with as_superuser(delivery_pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.backend_tokens)) == 0


def test_an_unknown_client_and_a_wrong_scope_get_no_token(client, clinic):
    assert _token_request(client, _assertion("nobody")).status_code == 401
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(clinic),
            "scope": "system/*.read",
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_the_person_sees_the_delivery_in_their_imports_and_access_log(delivery_pod, client, clinic):
    from healthpod import accounts

    body, patients = _sample_body()
    person_id = _join(delivery_pod, "Joined", SYNTHEA, patients[0]["id"], actor_client_id=clinic)
    client.post("/fhir/$deliver", content=body, headers={**NDJSON, **_token(client, clinic)})
    with delivery_pod.engine.begin() as conn:
        accounts.create_account(
            conn, "joined", "a long password", person_id=person_id, now_ms=now_ms()
        )
    page = client.get("/login", headers={"accept": "text/html"})
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post(
        "/login",
        data={"csrf_token": csrf, "username": "joined", "password": "a long password"},
        headers={"accept": "text/html"},
    )
    imports = client.get("/import", headers={"accept": "text/html"})
    assert "delivery.ndjson (Region Clinic)" in imports.text and "fhir-delivery" in imports.text
    log = client.get("/access-log", headers={"accept": "text/html"})
    assert "Delivery from healthcare" in log.text and "Region Clinic" in log.text


def test_a_client_whose_keys_are_at_a_jwks_url_gets_a_token(delivery_pod, client):
    import http.server
    import threading

    document = json.dumps({"keys": [KEY.as_dict(private=False)]}).encode()

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with delivery_pod.engine.begin() as conn:
            actor = register_backend(
                conn,
                name="Lab by URL",
                kind="clinic",
                purpose="TREAT",
                jwks_uri=f"http://127.0.0.1:{server.server_address[1]}/jwks.json",
                jwks=None,
                now_ms=now_ms(),
            )
        assert _token_request(client, _assertion(actor.client_id)).status_code == 200
        foreign = _assertion(actor.client_id, key=RSAKey.generate_key(2048))
        assert _token_request(client, foreign).status_code == 401
    finally:
        server.shutdown()
        server.server_close()


def test_a_personnummer_by_oid_finds_the_person_an_eid_joined(tmp_path, database_url):
    """A delivery naming the personnummer by its OID reaches the person whose e-ID gave the
    number (stored under the URI's namespace), with the region's default trusted systems."""
    from healthpod.identity.numbers import PERSONNUMMER

    settings = Settings(
        home=tmp_path / "home", database_url=database_url, base_url="http://testserver"
    )
    pod = Pod.open(settings)
    try:
        with pod.engine.begin() as conn:
            actor = register_backend(
                conn,
                name="Region Clinic",
                kind="clinic",
                purpose="TREAT",
                jwks_uri=None,
                jwks={"keys": [KEY.as_dict(private=False)]},
                now_ms=now_ms(),
            )
        person_id = _join(
            pod, "Tolvan", PERSONNUMMER, "19121212-1212", actor_client_id=actor.client_id
        )
        body = "\n".join(
            json.dumps(r)
            for r in (
                {
                    "resourceType": "Patient",
                    "id": "p1",
                    "identifier": [
                        {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121212"}
                    ],
                },
                {
                    "resourceType": "Condition",
                    "id": "c1",
                    "subject": {"reference": "Patient/p1"},
                    "code": {"text": "Hypertension"},
                },
                {
                    "resourceType": "Patient",
                    "id": "p2",
                    "identifier": [
                        {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "198112289874"}
                    ],
                },
                {
                    "resourceType": "Condition",
                    "id": "c2",
                    "subject": {"reference": "Patient/p2"},
                    "code": {"text": "Asthma"},
                },
            )
        )
        with TestClient(create_app(settings, pod=pod), base_url="http://testserver") as c:
            response = c.post(
                "/fhir/$deliver", content=body, headers={**NDJSON, **_token(c, actor.client_id)}
            )
        assert response.status_code == 200, response.text
        with as_superuser(pod.engine) as conn:
            rows = conn.execute(
                select(schema.resources.c.person_id, schema.resources.c.fhir_id)
            ).all()
        assert sorted(rows) == [(person_id, "c1"), (person_id, "p1")]
        assert "Asthma" not in _every_row_as_text(pod)
    finally:
        pod.close()


def test_a_delivery_spooled_seven_resources_at_a_time_stores_the_same(
    delivery_pod, clinic, tmp_path
):
    from healthpod.identity.delivery import deliver

    body, patients = _sample_body()
    person_ids = [
        _join(delivery_pod, f"Joined {i}", SYNTHEA, p["id"], actor_client_id=clinic)
        for i, p in enumerate(patients[:3])
    ]
    upload = tmp_path / "uploads" / "delivery.ndjson"
    upload.parent.mkdir()
    upload.write_bytes(body)
    with delivery_pod.engine.connect() as conn:
        actor_id = conn.execute(
            select(schema.actors.c.id).where(schema.actors.c.client_id == clinic)
        ).scalar_one()
    report = deliver(
        delivery_pod, actor_id, upload, kind="ndjson", filename="delivery.ndjson", spool_held=7
    )
    assert report.stored_patients == 3
    with as_superuser(delivery_pod.engine) as conn:
        for person_id, patient in zip(person_ids, patients[:3], strict=True):
            stored = conn.scalar(
                select(func.count())
                .select_from(schema.resources)
                .where(schema.resources.c.person_id == person_id)
            )
            assert stored == _references_to(body, patient["id"]) + 1
    assert [p.name for p in upload.parent.iterdir()] == ["delivery.ndjson"]  # no spool left
