"""Records from healthcare and the access log in a real Chromium, in English and Swedish, on a
desktop and at 390 px: filters in a plain GET form (tried with JavaScript off), bad input
answered on the page, axe-core clean, nothing wider than the window, screenshots kept.

Runs before test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .test_browser_flows import PASSWORD, USERNAME, _english_phrases, axe_violations

SIZES = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}
WORDS = {
    "en": {
        "kind": "Kind",
        "conditions": "Conditions",
        "text": "Text",
        "show": "Show",
        "bad_date": "is not a date in the form YYYY-MM-DD",
        "no_page": "There is no page 99",
        "last": "Go to the last page",
        "resolved": "Resolved, Confirmed",
    },
    "sv": {
        "kind": "Sort",
        "conditions": "Diagnoser",
        "text": "Text",
        "show": "Visa",
        "bad_date": "är inte ett datum i formen ÅÅÅÅ-MM-DD",
        "no_page": "Det finns ingen sida 99",
        "last": "Gå till sista sidan",
        "resolved": "Läkt, Bekräftad",
    },
}


def _login(page: Page, base: str, lang: str) -> None:
    page.context.add_cookies([{"name": "hp_lang", "value": lang, "url": base}])
    page.goto(f"{base}/login")
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(f"{base}/")


def _check_page(page: Page, axe_source: str, lang: str) -> dict[str, object]:
    problems: dict[str, object] = {}
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems["wider than the window by px"] = wide
    violations = axe_violations(page, axe_source)
    if violations:
        problems["axe"] = [
            {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in violations
        ]
    if lang == "sv":
        text = page.evaluate(
            """() => {
              const copy = document.body.cloneNode(true);
              // what the files say (a diagnosis, a file name) is not ours to translate
              copy.querySelectorAll(
                '[lang="en"], code, script, .record-title, .record-origin, .terms dd'
              ).forEach(el => el.remove());
              return copy.innerText;
            }"""
        )
        left = [phrase for phrase in _english_phrases() if phrase in text]
        if left:
            problems["English"] = left[:5]
    return problems


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_records_filter_without_javascript_and_keep_their_values(
    browser: Browser, live_server, screenshots, axe_source, lang, size
):
    words = WORDS[lang]
    base = live_server.url
    context = browser.new_context(java_script_enabled=False, viewport=SIZES[size])
    try:
        page = context.new_page()
        _login(page, base, lang)
        page.goto(f"{base}/records")
        page.get_by_label(words["kind"]).select_option("conditions")
        page.get_by_label(words["text"]).fill("wrist")
        page.get_by_role("button", name=words["show"], exact=True).click()
        page.wait_for_url(re.compile(r"/records\?kind=conditions.*q=wrist"))
        records = page.locator("li.record")
        expect(records).to_have_count(1)
        expect(records.first).to_contain_text("Sprain of wrist")
        expect(records.first).to_contain_text(words["resolved"])
        expect(page.get_by_label(words["kind"])).to_have_value("conditions")
        expect(page.get_by_label(words["text"])).to_have_value("wrist")
        page.screenshot(path=screenshots / f"records-filtered-{lang}-{size}.png", full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_records_values_and_bad_input_in_the_pages_language(
    page: Page, live_server, screenshots, axe_source, lang, size
):
    words = WORDS[lang]
    base = live_server.url
    page.set_viewport_size(SIZES[size])
    _login(page, base, lang)
    problems: dict[str, object] = {}

    page.goto(f"{base}/records?kind=blood-pressure")
    values = page.locator("li.record .record-value").all_inner_texts()
    assert values and all(re.fullmatch(r"\d{2,3}/\d{2,3} mmHg", v) for v in values), values
    problems.update(
        {f"blood pressure: {k}": v for k, v in _check_page(page, axe_source, lang).items()}
    )
    page.screenshot(path=screenshots / f"records-bp-{lang}-{size}.png", full_page=True)

    page.goto(f"{base}/records")
    body = page.locator("main").inner_text()
    assert "{" not in body and "mm[Hg]" not in body and "blood_pressure" not in body
    assert page.locator("li.record").count() == 25

    page.goto(f"{base}/records?kind=conditions&from=2019-13-01&q=wrist")
    expect(page.get_by_role("alert")).to_contain_text(words["bad_date"])
    expect(page.get_by_label(words["kind"])).to_have_value("conditions")
    expect(page.get_by_label(words["text"])).to_have_value("wrist")
    problems.update({f"bad date: {k}": v for k, v in _check_page(page, axe_source, lang).items()})
    page.screenshot(path=screenshots / f"records-bad-date-{lang}-{size}.png", full_page=True)

    page.goto(f"{base}/records?kind=conditions&page=99")
    expect(page.get_by_role("alert")).to_contain_text(words["no_page"])
    page.get_by_role("link", name=words["last"]).click()
    expect(page.locator("li.record").first).to_be_visible()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


LOG_WORDS = {
    "en": {
        "result": "Result",
        "denied": "Denied",
        "filter": "Filter",
        "why": r"Consent #\d+ does not cover Heart\.",
        "signed_in": r"You signed in \d+ times on ",
        "bad_date": "is not a date in the form YYYY-MM-DD",
    },
    "sv": {
        "result": "Resultat",
        "denied": "Nekad",
        "filter": "Filtrera",
        "why": r"Samtycke #\d+ täcker inte Hjärta\.",
        "signed_in": r"Du loggade in \d+ gånger den ",
        "bad_date": "är inte ett datum i formen ÅÅÅÅ-MM-DD",
    },
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_the_access_log_in_plain_words(
    browser: Browser, live_server, screenshots, axe_source, lang, size
):
    words = LOG_WORDS[lang]
    base = live_server.url
    problems: dict[str, object] = {}
    context = browser.new_context(java_script_enabled=False, viewport=SIZES[size])
    try:
        page = context.new_page()
        for _ in range(2):  # two sign-ins in a row today, at the least: one row
            context.clear_cookies()
            _login(page, base, lang)
        page.goto(f"{base}/access-log")
        signed_in = page.locator("tr[data-folded]").first
        expect(signed_in).to_contain_text(re.compile(words["signed_in"]))
        page.get_by_label(words["result"]).select_option("denied")
        page.get_by_role("button", name=words["filter"], exact=True).click()
        page.wait_for_url(re.compile(r"outcome=denied"))
        expect(page.get_by_label(words["result"])).to_have_value("denied")
        denied = page.locator("tbody tr")
        assert denied.count() >= 1
        assert page.locator('tbody tr:not([data-outcome="denied"])').count() == 0
        heart = denied.filter(has_text=re.compile(words["why"]))
        expect(heart.first).to_contain_text(words["denied"])
    finally:
        context.close()

    page = browser.new_page(viewport=SIZES[size])
    try:
        _login(page, base, lang)
        page.goto(f"{base}/access-log")
        problems.update(_check_page(page, axe_source, lang))
        page.screenshot(path=screenshots / f"access-log-words-{lang}-{size}.png", full_page=True)
        page.goto(f"{base}/access-log?outcome=denied&from=2026-02-30")
        expect(page.get_by_role("alert")).to_contain_text(words["bad_date"])
        expect(page.get_by_label(words["result"])).to_have_value("denied")
        problems.update(
            {f"bad date: {k}": v for k, v in _check_page(page, axe_source, lang).items()}
        )
    finally:
        page.close()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)
MAP_WORDS = {
    "en": {"choice": "Show workout routes on a map", "save": "Save map choice"},
    "sv": {"choice": "Visa träningsrutter på en karta", "save": "Spara kartvalet"},
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_route_map_tiles_only_when_turned_on(
    browser: Browser, live_server, screenshots, axe_source, workout_href, lang, size
):
    words = MAP_WORDS[lang]
    base = live_server.url
    context = browser.new_context(viewport=SIZES[size])
    fetched: list[str] = []

    def tile(route):  # no network: a blank tile, and a note of what was asked for
        fetched.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PNG_1PX)

    context.route("https://tile.openstreetmap.org/**", tile)
    try:
        page = context.new_page()
        _login(page, base, lang)
        page.goto(base + workout_href)
        expect(page.locator("svg.route polyline")).to_be_attached()
        assert page.locator("svg.route image").count() == 0 and fetched == []
        page.goto(f"{base}/settings")
        page.get_by_label(words["choice"]).select_option("on")
        page.get_by_role("button", name=words["save"]).click()
        expect(page.get_by_role("status")).to_be_visible()
        page.goto(base + workout_href)
        expect(page.locator("svg.route-map image").first).to_be_attached()
        page.wait_for_load_state("networkidle")
        assert fetched and all("/tile.openstreetmap.org/" in u for u in fetched)
        problems = _check_page(page, axe_source, lang)
        page.screenshot(path=screenshots / f"workout-map-{lang}-{size}.png", full_page=True)
        page.goto(f"{base}/settings")
        page.get_by_label(words["choice"]).select_option("off")
        page.get_by_role("button", name=words["save"]).click()
        fetched.clear()
        page.goto(base + workout_href)
        assert page.locator("svg.route image").count() == 0 and fetched == []
        assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
    finally:
        context.close()


@pytest.fixture(scope="module")
def workout_href(live_server) -> str:
    from sqlalchemy import select

    from healthpod.store import schema

    from .test_browser_flows import open_pod

    pod = open_pod(live_server.home)
    try:
        with pod.engine.connect() as conn:
            found = conn.scalar(
                select(schema.workouts.c.id)
                .where(schema.workouts.c.route.is_not(None))
                .order_by(schema.workouts.c.id)
            )
    finally:
        pod.close()
    assert found is not None
    return f"/workouts/{found}"
