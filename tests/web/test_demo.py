"""`healthpod demo`: a year of data through the importers, a login, two actors with consents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod import accounts, demo
from healthpod.cli import cli
from healthpod.consent import audit
from healthpod.consent import store as consent_store
from healthpod.demo_export import write_export
from healthpod.ingest.run import import_file
from healthpod.pod import now_ms
from healthpod.store import schema


def test_the_generated_year_covers_every_demo_type_and_ends_now(pod, tmp_path):
    end = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)  # the day after the spring DST change
    path = tmp_path / "export.xml"
    write_export(path, end=end, days=10)
    report = import_file(pod, path)
    for code in ("steps", "heart_rate", "resting_heart_rate", "hrv_sdnn", "sleep_analysis"):
        assert report.added.get(code, 0) > 0, code
    assert report.added.get("workout", 0) > 0
    with as_superuser(pod.engine) as conn:
        last = conn.scalar(select(func.max(schema.quantity_samples.c.start_ms)))
        offsets = set(conn.scalars(select(schema.quantity_samples.c.start_offset_min).distinct()))
    assert last <= end.timestamp() * 1000
    assert last > (end - timedelta(hours=12)).timestamp() * 1000
    assert offsets == {60, 120}  # Stockholm winter and summer time


@pytest.mark.slow
def test_set_up_fills_the_pod_once(pod):
    first = demo.set_up(pod)
    assert first.created and "demo-year-export.xml" in first.imported
    with as_superuser(pod.engine) as conn:
        samples = conn.scalar(select(func.count()).select_from(schema.quantity_samples))
        person_id = pod.person_id()
        consents = consent_store.list_consents(conn, person_id)
        log = audit.entries(conn, person_id)
    assert samples > 25_000
    assert len(consents) == 2
    outcomes = [entry.outcome for entry in log if entry.event == "fhir.search"]
    assert sorted(outcomes) == ["allowed", "allowed", "allowed", "denied"]
    assert (
        accounts.authenticate(
            pod.engine, demo.DEMO_USERNAME, demo.DEMO_PASSWORD, address="test", now_ms=now_ms()
        )
        == person_id
    )
    second = demo.set_up(pod)
    assert not second.created
    with as_superuser(pod.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(schema.quantity_samples)) == samples


def test_demo_command_without_server_prints_the_login(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "BUNDLED", ())
    monkeypatch.setattr(demo, "DEMO_DAYS", 3)
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path), "demo", "--no-serve"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "Log in as demo / healthpod-demo" in result.output
    again = CliRunner().invoke(
        cli, ["--home", str(tmp_path), "demo", "--no-serve"], catch_exceptions=False
    )
    assert "Reusing the demo pod" in again.output


@pytest.fixture
def demo_pod(pod):
    """The pod, claimed by the demo before the app opens it."""
    demo.claim(pod)
    return pod


def test_every_page_of_the_demo_pod_says_demo_data(demo_pod, logged_in):
    pages = ["/", "/import", "/records", "/sharing", "/access-log", "/data", "/settings"]
    for path in pages:
        for language, words in (("en", "Demo data."), ("sv", "Demodata.")):
            page = logged_in.get(path, headers={"accept": "text/html", "accept-language": language})
            assert page.status_code == 200, path
            assert words in page.text, (path, language)
    logged_in.cookies.clear()
    assert "Demo data." in logged_in.get("/login", headers={"accept": "text/html"}).text


def test_a_person_s_own_pod_has_no_demo_banner(logged_in):
    for path in ("/", "/settings"):
        assert "Demo data." not in logged_in.get(path, headers={"accept": "text/html"}).text
