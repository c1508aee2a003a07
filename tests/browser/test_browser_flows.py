"""The person's web app in a real Chromium against `healthpod serve` on a demo pod.

The tests share one pod and run in file order: the last one deletes everything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.config import Settings
from healthpod.errors import NotFound
from healthpod.insights import stats
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.store.person_data import owner_writer
from healthpod.web import localtime
from healthpod.web.i18n import Formatter

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data"
USERNAME, PASSWORD = "demo", "healthpod-demo"
PAGES = {
    "overview": "/",
    "type-steps": "/type/steps",
    "type-heart-rate": "/type/heart_rate?by=week",
    "import": "/import",
    "records": "/records",
    "sharing": "/sharing",
    "access-log": "/access-log",
    "your-data": "/data",
    "settings": "/settings",
}


def login(page: Page, base: str, next_path: str = "/") -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{next_path}")


def open_pod(home: Path) -> Pod:
    return Pod.open(Settings(home=home))


def axe_violations(page: Page, axe_source: str) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=axe_source)  # a same-origin file: allowed by our CSP
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def test_login_goes_back_to_the_page_asked_for(page: Page, live_server):
    page.goto(f"{live_server.url}/sharing")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsharing"))
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/sharing")
    expect(page.get_by_role("heading", name="Sharing", level=1)).to_be_visible()


def test_an_expired_session_goes_to_login_and_back(page: Page, live_server):
    page.context.add_cookies(
        [{"name": "hp_session", "value": "expired.or.forged", "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/settings")
    expect(page.get_by_role("status")).to_contain_text("Your session has ended")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/settings")


def test_overview_numbers_equal_the_statistics_engine(page: Page, live_server, screenshots):
    login(page, live_server.url)
    pod = open_pod(live_server.home)
    fmt = Formatter("en")
    try:
        with pod.engine.begin() as conn:
            person_id = pod.person_id()
            today = localtime.today(localtime.offset_min(owner_writer(conn, person_id)))
            monday = today.fromordinal(today.toordinal() - today.weekday())
            steps = _bucket(conn, person_id, "steps", "day", today, today)
            week = _bucket(conn, person_id, "steps", "week", monday, today)
            weight = _bucket(conn, person_id, "body_mass", "week", monday, today)
    finally:
        pod.close()
    # Early in the day (or the week) there may be nothing yet: the tile then shows no value.
    tile = page.locator('[data-type="steps"]')
    expect(tile.locator('[data-stat="today"]')).to_have_text(
        fmt.number(steps and steps.total) + (" steps" if steps else "")
    )
    expect(tile.locator('[data-stat="week"]')).to_have_text(
        fmt.number(week and week.total) + (" steps" if week else "")
    )
    if weight:
        expect(page.locator('[data-type="body_mass"] [data-stat="week"]')).to_have_text(
            f"{fmt.number(weight.mean, 1)} kg"
        )
    expect(page.locator("[data-finding]").first).to_be_visible()
    expect(page.locator(".chart-ready").first).to_be_visible()
    page.screenshot(path=screenshots / "overview.png", full_page=True)


def _bucket(conn, person_id: int, code: str, by: str, start, end):
    """The first bucket of a type in the range, or None when it has no samples there."""
    try:
        found = stats.bucket_stats(owner_writer(conn, person_id), code, by, start, end)
    except NotFound:
        return None
    return found.buckets[0] if found.buckets else None


def test_a_chart_renders_with_data_points_and_zooms(page: Page, live_server, screenshots):
    login(page, live_server.url, "/type/heart_rate")
    chart = page.locator("#main-chart.chart-ready")
    expect(chart).to_be_visible()
    assert int(chart.get_attribute("data-points") or 0) >= 20
    expect(chart.locator("canvas")).to_have_count(1)
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="Show the whole period").click()
    page.get_by_label("Bucket", exact=True).select_option("week")
    page.get_by_label("From", exact=True).fill("2026-01-01")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page).to_have_url(re.compile(r"by=week"))
    expect(page.locator("#main-chart.chart-ready")).to_be_visible()
    page.screenshot(path=screenshots / "type-heart-rate.png", full_page=True)


def test_upload_a_real_export_and_see_its_data(page: Page, live_server, screenshots):
    # "Measurements as stored" counts the chosen period: one wide enough for the CSV's dates
    every = "/type/body_mass?by=month&from=2000-01-01&to=2030-12-31"
    login(page, live_server.url, "/type/body_mass")
    page.goto(f"{live_server.url}{every}")
    before = int(page.locator("[data-total-samples]").get_attribute("data-total-samples") or 0)
    page.goto(f"{live_server.url}/import")
    page.get_by_label("Files to import").set_input_files(
        [DATA / "csv" / "withings-weight.csv", DATA / "fit" / "Activity.fit"]
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator('[data-finished="yes"]')).to_be_visible(timeout=30_000)
    expect(page.locator('.import-file[data-status="completed"]')).to_have_count(2)
    page.screenshot(path=screenshots / "import-finished.png", full_page=True)
    page.goto(f"{live_server.url}{every}")
    after = int(page.locator("[data-total-samples]").get_attribute("data-total-samples") or 0)
    assert after == before + 3  # the CSV's three weighings
    page.goto(f"{live_server.url}/import")
    expect(page.get_by_role("cell", name="withings-weight.csv")).to_be_visible()


def test_a_refused_file_shows_the_importers_message(page: Page, live_server, tmp_path):
    broken = tmp_path / "export.xml"
    broken.write_text('<?xml version="1.0"?><HealthData><Record type="HKQuantityTypeIdent')
    login(page, live_server.url, "/import")
    page.get_by_label("Files to import").set_input_files(broken)
    page.get_by_role("button", name="Import", exact=True).click()
    failed = page.locator('.import-file[data-status="failed"]')
    expect(failed).to_be_visible(timeout=30_000)
    expect(failed.get_by_role("alert")).to_contain_text("nothing of it was stored")
    expect(failed.get_by_role("alert")).to_contain_text("export.xml")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_revoke_refuses_the_actors_next_request_and_the_log_says_so(
    page: Page, live_server, screenshots, axe_source
):
    login(page, live_server.url)
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": live_server.client_id,
        "redirect_uri": live_server.redirect_uri,
        "scope": "launch/patient patient/Observation.rs",
        "state": "st-browser",
        "aud": f"{live_server.url}/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    callbacks: list[str] = []
    page.route(
        f"{live_server.redirect_uri}**",
        lambda route: (callbacks.append(route.request.url), route.fulfill(body="ok"))[1],
    )
    page.goto(f"{live_server.url}/oauth/authorize?{urlencode(params)}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pulse App")
    page.screenshot(path=screenshots / "consent-screen.png", full_page=True)
    assert axe_violations(page, axe_source) == []
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{live_server.redirect_uri}**")
    code = parse_qs(urlsplit(callbacks[-1]).query)["code"][0]
    token = httpx.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live_server.redirect_uri,
            "code_verifier": verifier,
            "client_id": live_server.client_id,
        },
    ).json()["access_token"]
    headers = {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}
    search = f"{live_server.url}/fhir/Observation?code=http://loinc.org|8867-4&_count=5"
    assert httpx.get(search, headers=headers).status_code == 200

    page.goto(f"{live_server.url}/sharing")
    page.get_by_role("button", name="Revoke access for Pulse App").click()
    expect(page.get_by_role("status")).to_contain_text("Pulse App is revoked")
    expect(page.get_by_role("button", name="Revoke access for Pulse App")).to_have_count(0)
    refused = httpx.get(search, headers=headers)
    assert refused.status_code in (401, 403)

    page.goto(f"{live_server.url}/access-log?actor={live_server.actor_id}&outcome=denied")
    denied = page.locator('tr[data-outcome="denied"]')
    expect(denied.first).to_be_visible()
    expect(denied.first).to_contain_text("Pulse App")
    page.screenshot(path=screenshots / "access-log-denied.png", full_page=True)
    # The revocation is the person's own act, and the allowed search says what it returned.
    page.goto(f"{live_server.url}/access-log")
    revoked = page.locator('tr[data-by="person"]', has_text="Consent revoked").first
    expect(revoked).to_contain_text("You")
    expect(revoked).to_contain_text("Pulse App")
    expect(revoked).to_contain_text("You revoked consent #")
    allowed = page.locator('tr[data-outcome="allowed"][data-by="actor"]').first
    expect(allowed).to_contain_text("Returned: 5")
    allowed.get_by_text("Returned: 5").click()
    expect(allowed.locator("code", has_text="Observation/").first).to_be_visible()
    page.screenshot(path=screenshots / "access-log-yours-and-returned.png", full_page=True)


def _english_phrases() -> list[str]:
    """UI msgids of two or more words whose Swedish text differs from the English."""
    po = ROOT / "src/healthpod/web/locales/sv/LC_MESSAGES/messages.po"
    with po.open("rb") as fp:
        catalog = read_po(fp, locale="sv")
    phrases = []
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or message.string == message.id:
            continue
        text = re.split(r"%\(\w+\)s", message.id)
        phrases += [part.strip(" .,:;()") for part in text if len(part.strip().split()) >= 2]
    return sorted(set(phrases), key=len, reverse=True)


@pytest.mark.parametrize(
    "name", ["overview", "sharing", "access-log", "settings", "import", "your-data", "type-steps"]
)
def test_swedish_pages_have_no_english_left(page: Page, live_server, screenshots, name):
    login(page, live_server.url, PAGES[name])
    page.get_by_role("button", name="Svenska").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    text = page.evaluate(
        """() => {
          const copy = document.body.cloneNode(true);
          copy.querySelectorAll('[lang="en"], code, script').forEach(el => el.remove());
          return copy.innerText;
        }"""
    )
    left = [phrase for phrase in _english_phrases() if phrase in text]
    assert left == [], f"English on the Swedish {name} page: {left}"
    for word in ("Today", "This week", "Log out", "Overview", "Settings"):
        assert not re.search(rf"\b{word}\b", text), word
    page.screenshot(path=screenshots / f"{name}-sv.png", full_page=True)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_passes_axe_without_serious_violations(
    page: Page, live_server, screenshots, axe_source, name
):
    login(page, live_server.url, PAGES[name])
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page, axe_source)
    page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    assert violations == [], json.dumps(
        [
            {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in violations
        ],
        indent=1,
    )


def test_the_keyboard_reaches_the_content_and_the_forms(page: Page, live_server):
    login(page, live_server.url, "/settings")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    for _ in range(30):  # on to the first control of the page's own forms
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "language":
            break
    else:
        raise AssertionError("the language control cannot be reached with Tab")
    expect(page.locator("#language")).to_be_focused()


def test_login_and_error_pages_pass_axe(page: Page, live_server, screenshots, axe_source):
    page.goto(f"{live_server.url}/login")
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=screenshots / "login.png", full_page=True)
    page.goto(f"{live_server.url}/no-such-page")
    assert axe_violations(page, axe_source) == []


def test_export_downloads_a_zip_whose_counts_match_the_store(page: Page, live_server, tmp_path):
    login(page, live_server.url, "/data")
    page.get_by_role("button", name="Download everything").click()
    expect(page.locator("#export-progress")).to_be_visible()
    ready = page.get_by_role("link", name="Download the zip file")
    expect(ready).to_be_visible(timeout=120_000)  # the bar fills, then the link appears
    expect(page.locator("#export-progress")).to_have_attribute("value", "100")
    with page.expect_download() as download:
        ready.click()
    target = tmp_path / "export.zip"
    download.value.save_as(target)
    archive = zipfile.ZipFile(target)
    manifest = json.loads(archive.read("manifest.json"))
    pod = open_pod(live_server.home)
    try:
        with as_superuser(pod.engine) as conn:
            person_id = pod.person_id()

            def count(table):
                return conn.scalar(
                    select(func.count()).select_from(table).where(table.c.person_id == person_id)
                )

            samples = count(schema.quantity_samples) + count(schema.category_samples)
            # A blood pressure is one 85354-9 panel, as the API returns it: its two component
            # samples are not listed on their own.
            samples -= conn.scalar(
                select(func.count())
                .select_from(schema.correlations)
                .where(
                    schema.correlations.c.person_id == person_id,
                    schema.correlations.c.type_code == "blood_pressure",
                )
            )
            samples += conn.scalar(
                select(func.count())
                .select_from(schema.resources)
                .where(
                    schema.resources.c.person_id == person_id,
                    schema.resources.c.resource_type == "Observation",
                )
            )
            conditions = conn.scalar(
                select(func.count())
                .select_from(schema.resources)
                .where(
                    schema.resources.c.person_id == person_id,
                    schema.resources.c.resource_type == "Condition",
                )
            )
            workouts = count(schema.workouts)
    finally:
        pod.close()
    observations = archive.read("fhir/Observation.ndjson").decode().splitlines()
    assert len(observations) == samples == manifest["files"]["fhir/Observation.ndjson"]
    assert len(archive.read("fhir/Condition.ndjson").decode().splitlines()) == conditions > 0
    assert manifest["files"]["csv/workouts.csv"] == workouts > 0


@pytest.mark.parametrize("language", ["en", "sv"])
def test_the_consent_screen_shows_identity_as_its_own_choice(
    page: Page, live_server, screenshots, axe_source, language
):
    """Who the person is is a category like any other: unchecked, the app's Patient is its id
    alone, labelled REDACTED, and no name or birth date leaves the pod."""
    login(page, live_server.url)
    page.context.add_cookies([{"name": "hp_lang", "value": language, "url": live_server.url}])
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": live_server.client_id,
        "redirect_uri": live_server.redirect_uri,
        "scope": "launch/patient patient/Patient.rs patient/Observation.rs",
        "state": "st-identity",
        "aud": f"{live_server.url}/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    callbacks: list[str] = []
    page.route(
        f"{live_server.redirect_uri}**",
        lambda route: (callbacks.append(route.request.url), route.fulfill(body="ok"))[1],
    )
    page.goto(f"{live_server.url}/oauth/authorize?{urlencode(params)}")
    expect(page.locator("html")).to_have_attribute("lang", language)
    identity = page.locator('input[name="category"][value="identity"]')
    expect(identity).to_be_checked()
    label = "Vem du är" if language == "sv" else "Who you are"
    expect(page.locator("label", has=identity)).to_contain_text(label)
    page.screenshot(path=screenshots / f"consent-identity-{language}.png", full_page=True)
    assert axe_violations(page, axe_source) == []
    identity.uncheck()
    page.locator('button[name="decision"][value="allow"]').click()
    page.wait_for_url(f"{live_server.redirect_uri}**")
    code = parse_qs(urlsplit(callbacks[-1]).query)["code"][0]
    token = httpx.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live_server.redirect_uri,
            "code_verifier": verifier,
            "client_id": live_server.client_id,
        },
    ).json()
    headers = {"authorization": f"Bearer {token['access_token']}"}
    patient = httpx.get(f"{live_server.url}/fhir/Patient/{token['patient']}", headers=headers)
    assert patient.status_code == 200
    body = patient.json()
    assert set(body) == {"resourceType", "id", "meta"}
    assert body["meta"]["security"][0]["code"] == "REDACTED"
    included = httpx.get(
        f"{live_server.url}/fhir/Observation?_include=Observation:patient&_count=1",
        headers=headers,
    ).json()
    patients = [
        e["resource"] for e in included["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert all("name" not in p and "birthDate" not in p for p in patients)


def test_mark_a_measurement_wrong_and_undo_it(page: Page, live_server, screenshots):
    login(page, live_server.url, "/type/body_mass")
    first = page.locator("tr[data-id]").first
    item = first.get_attribute("data-id")
    first.locator("summary").click()  # opens the reason form
    first.get_by_label("Why (optional)").fill("my child on the scale")
    first.get_by_role("button", name="Mark as wrong").click()
    row = page.locator(f'tr[data-id="{item}"]')
    expect(row).to_have_class("wrong")
    expect(row.get_by_text("Marked wrong: my child on the scale")).to_be_visible()
    page.screenshot(path=screenshots / "marked-wrong.png", full_page=True)
    row.get_by_role("button", name="Undo").click()
    expect(page.locator(f'tr[data-id="{item}"]')).not_to_have_class("wrong")
    expect(page.locator("tr.wrong")).to_have_count(0)


def test_delete_everything_leaves_nothing_of_the_person(page: Page, live_server, screenshots):
    pod = open_pod(live_server.home)
    person_id = pod.person_id()
    pod.close()
    login(page, live_server.url, "/data")
    page.get_by_text("I want to delete everything").click()
    page.get_by_role("button", name="Delete everything now").click()
    expect(page.locator("#confirm_username-error")).to_be_visible()
    page.get_by_label("Type your username to confirm").fill(USERNAME)
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete everything now").click()
    expect(page.get_by_role("status")).to_contain_text("Everything in your pod is deleted")
    page.screenshot(path=screenshots / "deleted.png", full_page=True)
    pod = open_pod(live_server.home)
    try:
        with as_superuser(pod.engine) as conn:
            for table in schema.metadata.sorted_tables:
                if "person_id" in table.c:
                    left = conn.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(table.c.person_id == person_id)
                    )
                    assert left == 0, table.name
            assert (
                conn.scalar(
                    select(func.count())
                    .select_from(schema.persons)
                    .where(schema.persons.c.id == person_id)
                )
                == 0
            )
    finally:
        pod.close()
