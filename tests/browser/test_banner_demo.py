"""The demo pod says "demo data" on every page, in both languages, on a desktop and a phone.

(Named to run before test_browser_flows.py, whose last test empties the shared demo pod.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

USERNAME, PASSWORD = "demo", "healthpod-demo"
WORDS = {"en": "Demo data.", "sv": "Demodata."}


@pytest.mark.parametrize("width", [1200, 390])
@pytest.mark.parametrize("language", ["en", "sv"])
def test_the_demo_banner_is_on_every_page_and_fits(
    page: Page, live_server, screenshots: Path, axe_source: str, language: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/login")
    if language == "sv":
        page.get_by_role("button", name="Svenska").click()  # the language switch in the header
        expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.locator(".demo-banner")).to_contain_text(WORDS[language])
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator('form[action="/login"] button[type=submit]').click()
    page.wait_for_url(f"{live_server.url}/")
    for path in ("/", "/records", "/sharing", "/access-log", "/settings"):
        page.goto(f"{live_server.url}{path}")
        banner = page.locator(".demo-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(WORDS[language])
        box = banner.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, path
    page.screenshot(path=screenshots / f"demo-banner-{language}-{width}.png")
    page.add_script_tag(url=axe_source)
    violations = page.evaluate(
        "async () => (await axe.run('.demo-banner', {resultTypes: ['violations']})).violations"
    )
    assert [v["id"] for v in violations if v["impact"] in ("serious", "critical")] == []
