"""Every page of the person's app, in English and Swedish, on a desktop and at 390 px wide.

On each: axe-core finds nothing serious, nothing is wider than the window, a Swedish page has
no English sentence from our catalogue, and a screenshot is kept in test-output/screenshots/.
Runs before test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from tests.conftest import as_superuser

from healthpod.store import schema
from healthpod.web.pages.all_data import type_href

from .test_browser_flows import PASSWORD, USERNAME, _english_phrases, axe_violations, open_pod

PAGES = {
    "overview": "/",
    "all-data": "/all-data",
    "workouts": "/workouts",
    "workout": "/workouts/{workout}",
    "blood-pressure": "/blood-pressure",
    "type-steps": "/type/steps",
    "type-sleep": "/type/sleep_analysis",
    "import": "/import",
    "records": "/records",
    "sharing": "/sharing",
    "access-log": "/access-log",
    "inbox": "/inbox",
    "your-data": "/data",
    "settings": "/settings",
}
SIZES = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}


def _login(page: Page, base: str, lang: str) -> None:
    page.context.add_cookies([{"name": "hp_lang", "value": lang, "url": base}])
    page.goto(f"{base}/login")
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(f"{base}/")


@pytest.fixture(scope="module")
def workout_id(live_server) -> int:
    pod = open_pod(live_server.home)
    try:
        with as_superuser(pod.engine) as conn:
            found = conn.scalar(
                select(schema.workouts.c.id)
                .where(schema.workouts.c.route.is_not(None))
                .order_by(schema.workouts.c.id)
            )
    finally:
        pod.close()
    assert found is not None
    return int(found)


def _visible_text(page: Page) -> str:
    return str(
        page.evaluate(
            """() => {
              const copy = document.body.cloneNode(true);
              copy.querySelectorAll('[lang="en"], code, script').forEach(el => el.remove());
              return copy.innerText;
            }"""
        )
    )


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_every_page_in_both_languages_and_sizes(
    page: Page, live_server, screenshots, axe_source, workout_id, lang, size
):
    page.set_viewport_size(SIZES[size])
    _login(page, live_server.url, lang)
    english = _english_phrases() if lang == "sv" else []
    problems: dict[str, object] = {}
    for name, path in PAGES.items():
        page.goto(live_server.url + path.format(workout=workout_id))
        page.wait_for_load_state("networkidle")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if wide > 0:
            problems[f"{name}: wider than the window by px"] = wide
        violations = axe_violations(page, axe_source)
        if violations:
            problems[f"{name}: axe"] = [
                {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in violations
            ]
        if lang == "sv":
            text = _visible_text(page)
            left = [phrase for phrase in english if phrase in text]
            if left:
                problems[f"{name}: English"] = left[:5]
        page.screenshot(path=screenshots / f"{name}-{lang}-{size}.png", full_page=True)
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_chart_bars_start_at_zero_with_the_unit_in_the_pages_language(
    page: Page, live_server, lang
):
    _login(page, live_server.url, lang)
    page.goto(f"{live_server.url}/type/steps?by=day")
    chart = page.locator("#main-chart.chart-ready")
    expect(chart).to_be_visible()
    assert chart.get_attribute("data-y-label") == ("steps" if lang == "en" else "steg")
    assert float(chart.get_attribute("data-y-min") or "nan") == 0  # bars start at zero
    y_ticks = json.loads(chart.get_attribute("data-y-ticks") or "[]")
    x_ticks = json.loads(chart.get_attribute("data-x-ticks") or "[]")
    assert y_ticks[0] == "0", y_ticks
    big = [t for t in y_ticks if len(re.sub(r"\D", "", t)) >= 4]
    assert big, y_ticks
    if lang == "sv":
        assert all(re.fullmatch(r"\d{1,3}(\u00a0\d{3})+", t) for t in big), big  # "8 000"
        assert all(re.fullmatch(r"\d{1,2} [a-zåäö]+\.", t) for t in x_ticks), x_ticks  # "9 nov."
    else:
        assert all(re.fullmatch(r"\d{1,3}(,\d{3})+", t) for t in big), big
        assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]+", t) for t in x_ticks), x_ticks
    page.goto(f"{live_server.url}/type/heart_rate?by=hour")
    hourly = page.locator("#main-chart.chart-ready")
    expect(hourly).to_be_visible()
    times = json.loads(hourly.get_attribute("data-x-ticks") or "[]")
    assert times and all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times), times  # 24-hour


def test_every_type_with_data_is_reachable_from_the_navigation(page: Page, live_server):
    pod = open_pod(live_server.home)
    try:
        with as_superuser(pod.engine) as conn:
            person_id = pod.person_id()
            codes = set()
            for table in (schema.quantity_samples, schema.category_samples):
                codes |= set(
                    conn.scalars(
                        select(schema.sample_types.c.code)
                        .join(table, table.c.type_id == schema.sample_types.c.id)
                        .where(table.c.person_id == person_id)
                        .distinct()
                    )
                )
    finally:
        pod.close()
    from healthpod.vocabulary import SAMPLE_TYPES

    known = {t.code for t in SAMPLE_TYPES} & codes
    assert known
    _login(page, live_server.url, "en")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="All my data").click()
    expect(page.get_by_role("heading", level=1, name="All my data")).to_be_visible()
    hrefs = set(page.locator("main a").evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    missing = sorted(code for code in known if type_href(code) not in hrefs)
    assert missing == []
    for href in sorted({type_href(code) for code in known}):
        response = page.goto(live_server.url + href)
        assert response is not None and response.status == 200, href
        expect(page.locator("h1")).to_have_count(1)
