"""Settings (source order, password) and the records from healthcare."""

from __future__ import annotations

from pathlib import Path

from healthpod import accounts
from healthpod.ingest.run import import_path
from healthpod.insights import sources, stats
from healthpod.pod import DEFAULT_PERSON, now_ms
from healthpod.store.person_data import owner_writer
from insights.builder import Person

HTML = {"accept": "text/html"}
SYNTHEA = Path(__file__).parents[2] / "src/healthpod/demo_data/synthea-xavier-lueilwitz.json"


def test_moving_a_source_changes_the_order(logged_in, pod, account, ten_days, csrf_of):
    with pod.engine.connect() as conn:
        before = sources.list_sources(owner_writer(conn, account))
    last = before[-1]
    page = logged_in.get("/settings", headers=HTML)
    response = logged_in.post(
        "/settings/sources",
        data={"csrf_token": csrf_of(page.text), "source_id": str(last.id), "position": "1"},
        headers=HTML,
    )
    assert response.status_code == 200 and "is saved" in response.text
    with pod.engine.connect() as conn:
        assert sources.list_sources(owner_writer(conn, account))[0].id == last.id


def test_a_type_gets_its_own_source_order_in_settings(logged_in, pod, account, csrf_of):
    me = Person(pod.engine, name=DEFAULT_PERSON)
    assert me.id == account
    me.source("Watch", priority=1)
    me.source("Phone", priority=2)
    for code in ("steps", "distance_walking_running"):
        me.quantity(code, "2026-04-01T10:00+02:00", "2026-04-01T11:00+02:00", 600, "Phone")
        me.quantity(code, "2026-04-01T10:30+02:00", "2026-04-01T11:30+02:00", 300, "Watch")
    me.save()
    page = logged_in.get("/settings?type=steps", headers=HTML)
    assert page.status_code == 200 and 'data-type-source="' in page.text
    phone = me.sources["Phone"]
    form = {"csrf_token": csrf_of(page.text), "type_code": "steps", "source_id": str(phone)}
    # without the CSRF token: refused, nothing changes
    refused = logged_in.post(
        "/settings/type-sources", data={**form, "csrf_token": "", "position": "1"}, headers=HTML
    )
    assert refused.status_code == 403
    bad = logged_in.post("/settings/type-sources", data={**form, "position": "9"}, headers=HTML)
    assert bad.status_code == 400
    saved = logged_in.post("/settings/type-sources", data={**form, "position": "1"}, headers=HTML)
    assert saved.status_code == 200 and "for this type is saved" in saved.text
    with pod.engine.begin() as conn:
        assert sources.ranked_source_ids(owner_writer(conn, account), "steps")[0] == phone
        assert (
            sources.ranked_source_ids(owner_writer(conn, account), "distance_walking_running")[0]
            != phone
        )
        assert stats.bucket_stats(owner_writer(conn, account), "steps").buckets[0].total == 750.0
        assert (
            stats.bucket_stats(owner_writer(conn, account), "distance_walking_running")
            .buckets[0]
            .total
            == 600
        )
    reset = logged_in.post(
        "/settings/type-sources",
        data={"csrf_token": form["csrf_token"], "type_code": "steps", "reset": "1"},
        headers=HTML,
    )
    assert reset.status_code == 200
    with pod.engine.begin() as conn:
        assert sources.ranked_source_ids(owner_writer(conn, account), "steps")[0] != phone
        assert stats.bucket_stats(owner_writer(conn, account), "steps").buckets[0].total == 600.0


def test_password_change_checks_each_field(logged_in, pod, account, csrf_of):
    token = csrf_of(logged_in.get("/settings", headers=HTML).text)
    bad = logged_in.post(
        "/settings/password",
        data={"csrf_token": token, "current": "", "new": "short", "repeat": "short"},
        headers=HTML,
    )
    assert bad.status_code == 400
    assert 'id="current-error"' in bad.text and 'id="new-error"' in bad.text
    ok = logged_in.post(
        "/settings/password",
        data={
            "csrf_token": token,
            "current": "correct horse battery",
            "new": "a new long password",
            "repeat": "a new long password",
        },
        headers=HTML,
    )
    assert ok.status_code == 200 and "Your password is changed." in ok.text
    assert (
        accounts.authenticate(
            pod.engine, "anna", "a new long password", address="t", now_ms=now_ms()
        )
        == account
    )


def test_records_show_synthea_conditions_with_their_origin(logged_in, pod):
    import_path(pod, SYNTHEA)
    html = logged_in.get("/records", headers=HTML).text
    assert "Sprain of wrist" in html and "Hep A, adult" in html
    assert "synthea-xavier-lueilwitz.json" in html


def test_records_page_without_records_says_so(logged_in):
    html = logged_in.get("/records", headers=HTML).text
    assert "No records from healthcare yet" in html


def test_export_with_healthcare_records_has_one_file_per_type(
    logged_in, pod, csrf_of, download_export
):
    import io
    import json
    import warnings
    import zipfile

    import_path(pod, SYNTHEA)
    page = logged_in.get("/data", headers=HTML)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zipfile warns on a duplicate member name
        response = download_export(logged_in, csrf_of(page.text))
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert len(names) == len(set(names))
    patients = archive.read("fhir/Patient.ndjson").decode().splitlines()
    assert len(patients) == 2  # the pod's person, then the Synthea Patient record
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"]["fhir/Condition.ndjson"] > 0
