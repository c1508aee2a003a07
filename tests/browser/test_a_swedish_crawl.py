"""Every page reachable from the overview, in Swedish, in a real Chromium: no English sentence
from our own catalogue, no raw code such as blood_pressure, never a server error.

The crawl follows the app's own links (same origin, GET, no downloads or logout) from `/`,
every type page and up to 30 of each other shape (`/workouts/{id}`, `/consents/{id}`), but
only two pages of a list (`/records?page=…`), so it reaches every kind of page without walking
a year of data. Runs before
test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from .test_browser_flows import PASSWORD, USERNAME, _english_phrases

SKIP = ("/logout", "/static/", "/api/", "/fhir/", "/docs", "/openapi", "/shl/", "/oauth/")
SKIP_SUFFIX = (".zip", ".json", ".ndjson")
PER_SHAPE = 30  # every type page, every consent …
PER_QUERY_SHAPE = 2  # … but only the first pages of a list
MAX_PAGES = 150
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # blood_pressure, heart_rate …


def _shape(path: str, query: str) -> str:
    shape = re.sub(r"/\d+", "/{n}", path)
    shape = re.sub(r"^/type/[^/]+", "/type/{code}", shape)
    keys = sorted(part.split("=")[0] for part in query.split("&") if part)
    return shape + ("?" + "&".join(keys) if keys else "")


def _login_swedish(page: Page, base: str) -> None:
    page.context.add_cookies([{"name": "hp_lang", "value": "sv", "url": base}])
    page.goto(f"{base}/login")
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(f"{base}/")


def test_every_reachable_page_is_swedish(page: Page, live_server, screenshots):
    base = live_server.url
    _login_swedish(page, base)
    english = _english_phrases()
    seen: set[str] = set()
    shapes: Counter[str] = Counter()
    queue = ["/"]
    problems: dict[str, object] = {}
    visited = 0
    while queue and visited < MAX_PAGES:
        target = queue.pop(0)
        if target in seen:
            continue
        seen.add(target)
        split = urlsplit(target)
        shape = _shape(split.path, split.query)
        if shapes[shape] >= (PER_QUERY_SHAPE if split.query else PER_SHAPE):
            continue
        shapes[shape] += 1
        try:
            response = page.goto(base + target)
        except PlaywrightError as exc:
            if "Download is starting" in str(exc):  # a JSON receipt, a zip: not a page
                continue
            raise
        visited += 1
        status = response.status if response is not None else 0
        if status >= 500 or status == 0:
            problems[f"{target}: status"] = status
            continue
        if page.locator("html").get_attribute("lang") != "sv":
            problems[f"{target}: lang"] = page.locator("html").get_attribute("lang")
        text = page.evaluate(
            """() => {
              const copy = document.body.cloneNode(true);
              // ours to translate: everything but code, marked English, and what the files say
              copy.querySelectorAll(
                '[lang="en"], code, script, .record-title, .record-origin, .terms dd,'
                + ' [data-source], .source-name, .import-file h2, option'
              ).forEach(el => el.remove());
              return copy.innerText;
            }"""
        )
        left = [phrase for phrase in english if phrase in text]
        if left:
            problems[f"{target}: English"] = left[:5]
        raw = sorted(set(RAW_CODE.findall(text)))
        if raw:
            problems[f"{target}: raw codes"] = raw[:5]
        if shapes[shape] == 1:
            name = re.sub(r"[^a-z0-9]+", "-", shape.lower()).strip("-") or "overview"
            page.screenshot(path=screenshots / f"crawl-sv-{name}.png", full_page=True)
        hrefs = page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        for href in hrefs:
            absolute = urlsplit(urljoin(base + target, href))
            if absolute.netloc != urlsplit(base).netloc or href.startswith("#"):
                continue
            path = absolute.path
            if path.startswith(SKIP) or path.endswith(SKIP_SUFFIX) or "/download" in path:
                continue
            link = path + (f"?{absolute.query}" if absolute.query else "")
            if link not in seen:
                queue.append(link)
    (screenshots.parent / "crawl-sv.json").write_text(
        json.dumps({"visited": visited, "shapes": dict(shapes)}, indent=1), encoding="utf-8"
    )
    assert visited >= 15, f"the crawl reached only {visited} pages: {sorted(shapes)}"
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
