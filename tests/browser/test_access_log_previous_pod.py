"""The history a person brought from a pod they moved from, on the access-log page: read-only,
in English and Swedish, on a desktop and at 390 px, axe-clean, with screenshots.

The demo pod's own export is imported back into it: its samples add nothing (they are there
already), and its consents, actors and access log come in as the history of "a previous pod".
Runs before test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, expect

from .conftest import _healthpod
from .test_access_and_records import SIZES, _check_page, _login

TITLE = {"en": "History from your previous pod", "sv": "Historik från din tidigare pod"}


@pytest.fixture(scope="module")
def moved_in(live_server, tmp_path_factory):  # type: ignore[no-untyped-def]
    export = tmp_path_factory.mktemp("moved") / "export.zip"
    _healthpod(live_server.home, "export", str(export))
    _healthpod(live_server.home, "import", str(export))
    history = json.loads(_healthpod(live_server.home, "log", "history", "--json").stdout)
    assert history["access_log_total"] > 0 and history["consents"]
    return history


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_the_access_log_page_shows_the_previous_pods_history(
    browser: Browser, live_server, moved_in, screenshots, axe_source, lang, size
):
    page = browser.new_page(viewport=SIZES[size])
    try:
        _login(page, live_server.url, lang)
        page.goto(f"{live_server.url}/access-log")
        section = page.locator("section.previous-pod")
        expect(section.get_by_role("heading", name=TITLE[lang])).to_be_visible()
        rows = section.locator("table.previous-log tbody tr")
        expect(rows).to_have_count(min(200, moved_in["access_log_total"]))
        consents = section.locator("ul.previous-consents li")
        expect(consents).to_have_count(len(moved_in["consents"]))
        # Read-only: no form, button or link in it acts on the old pod's consents.
        assert section.locator("form, button").count() == 0
        problems = _check_page(page, axe_source, lang)
        section.scroll_into_view_if_needed()
        page.screenshot(path=screenshots / f"previous-pod-{lang}-{size}.png", full_page=True)
        assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
    finally:
        page.close()
