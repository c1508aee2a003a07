"""Who must NOT see the history a person brought from the pod they moved from, over real HTTP,
on SQLite and PostgreSQL.

An export carries the old pod's consents, the actors they named and its access log; the
import keeps them read-only (`moved_history`) as the person's own record of who saw what
there. No one else reads it: not a SMART app holding every category (not in any FHIR search,
`$everything` or Bulk export, not through the JSON API or the web pages), and not a delegate
acting for the person (the access-log page leaves the section out). The person sees it.
"""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from click.testing import CliRunner
from tests.conftest import as_superuser

from healthpod.cli import cli
from healthpod.config import Settings
from healthpod.consent import audit, store
from healthpod.consent.model import Scope
from healthpod.export import write_export
from healthpod.ingest.run import import_path
from healthpod.pod import Pod
from healthpod.store.engine import make_engine
from healthpod.store.person_data import for_owner
from smart_support import (
    PASSWORD,
    add_actor,
    add_person,
    add_samples,
    http_tokens,
    live_server,
    login_with_form,
)

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
OLD_ACTOR = "Coach Before The Move"  # named only in the old pod's consents and log
OLD_REASON = "read at the old clinic"  # only in the old pod's access log
MARKERS = (OLD_ACTOR, OLD_REASON)
READ_ALL = "launch/patient patient/*.rs"
TITLE = "History from your previous pod"


@pytest.fixture
def old_pod(request, tmp_path, sqlite_template, pg_template, database_url):
    """The pod Anna moved from: another database on the same engine, its own deployment."""
    if database_url.startswith("sqlite"):
        shutil.copy(sqlite_template, tmp_path / "old.db")
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = pg_template.clone()
        request.addfinalizer(lambda: pg_template.drop(make_engine(url).url.database or ""))
    home = tmp_path / "old-home"
    assert (
        CliRunner().invoke(cli, ["--home", str(home), "--database-url", url, "init"]).exit_code == 0
    )
    old = Pod.open(Settings(home=home, database_url=url))
    yield old
    old.close()


@pytest.fixture
def moved(pod, old_pod, settings, tmp_path):
    """Anna, who moved in with the export of her old pod: a consent to a coach there, and an
    access-log entry of the coach reading. Erik may act for her (a "manage" delegation)."""
    engine = pod.engine
    anna = add_person(engine, "anna")
    add_samples(engine, anna, "heart_rate", [(T0 + 3_600_000, 61)])
    old = old_pod.person_id()
    add_samples(old_pod.engine, old, "heart_rate", [(T0, 60)])
    coach = add_actor(old_pod.engine, OLD_ACTOR).actor
    with as_superuser(old_pod.engine) as conn:
        store.grant(
            conn, old, coach.id, Scope(frozenset({"heart"})), valid_until_ms=None, now_ms=T0
        )
        audit.record(conn, old, coach.id, "fhir.read", "allowed", {"path": "Observation"},
                     now_ms=T0 + 1, reason=OLD_REASON)  # fmt: skip
    zipped = tmp_path / "old-pod.zip"
    write_export(for_owner(old_pod.engine, old_pod.reads, old), zipped)
    import_path(pod, zipped, person="Anna")
    erik = add_person(engine, "erik")
    base_args = ["--home", str(settings.home), "--database-url", settings.database_url]
    history = CliRunner().invoke(cli, [*base_args, "log", "history", "--person", "Anna", "--json"])
    assert OLD_ACTOR in history.stdout and OLD_REASON in history.stdout  # there, for the person
    app = add_actor(engine, "Pulse App").actor
    with live_server(pod) as base:
        yield {"base": base, "anna": anna, "erik": erik, "app": app}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found[1]


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers={"accept": "text/html"})
    login_with_form(client, username, PASSWORD)
    return client


def _fhir_texts(base: str, token: str, anna: int) -> list[str]:
    """What an app holding every category gets back from every way to read a whole person."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    with httpx.Client(base_url=f"{base}/fhir", headers=headers) as fhir:
        texts = []
        for path in (
            f"Patient/{anna}/$everything",
            "Observation",
            "Consent",
            "AuditEvent",
            "Provenance",
            "RelatedPerson",
            "Practitioner",
            "Organization",
        ):
            response = fhir.get(path)
            assert response.status_code in (200, 404), (path, response.text[:300])
            texts.append(response.text)
        kick = fhir.get("Patient/$export", headers={"Prefer": "respond-async"})
        assert kick.status_code == 202, kick.text
        manifest = fhir.get(kick.headers["content-location"])
        assert manifest.status_code == 200, manifest.text
        for item in manifest.json()["output"]:
            texts.append(fhir.get(item["url"]).text)
    return texts


def test_an_app_with_every_category_never_reads_the_previous_pods_history(moved):
    base, anna = moved["base"], moved["anna"]
    token = http_tokens(base, moved["app"].client_id, "anna", READ_ALL)["access_token"]
    texts = _fhir_texts(base, token, anna)
    assert any("Observation" in t for t in texts)  # the app does read Anna's data
    for text in texts:
        assert not any(marker in text for marker in MARKERS), text[:500]
    # The person's own JSON API and pages are not the app's, whatever its token holds.
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=bearer) as app:
        for path in ("/api/log", "/api/log/fhir", "/api/consents", "/access-log"):
            response = app.get(path, follow_redirects=False)
            assert response.status_code in (303, 401, 403), (path, response.status_code)
            assert not any(marker in response.text for marker in MARKERS), path


def test_a_delegate_acting_for_the_person_never_sees_the_previous_pods_history(moved):
    base, anna = moved["base"], moved["anna"]
    person = _signed_in(base, "anna")
    csrf = _csrf(person.get("/sharing").text)
    added = person.post(
        "/sharing/delegates",
        data={"csrf_token": csrf, "username": "erik", "role": "manage"},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text[:300]
    delegate = _signed_in(base, "erik")
    chosen = delegate.post(
        "/acting",
        data={"csrf_token": _csrf(delegate.get("/sharing").text), "person_id": str(anna)},
        follow_redirects=False,
    )
    assert chosen.status_code == 303, chosen.text[:300]
    for path in ("/access-log", "/", "/all-data", "/sharing"):
        page = delegate.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert "You are acting for" in page.text  # it is Anna's page, seen by Erik
        assert TITLE not in page.text and "previous-pod" not in page.text, path
        for marker in MARKERS:
            i = page.text.find(marker)
            assert i < 0, (path, marker, page.text[max(0, i - 400) : i + 100])
    # The person herself sees it on the same page.
    own = person.get("/access-log").text
    assert TITLE in own and OLD_ACTOR in own
