"""A newcomer's walk: every page reachable from the overview, in a real Chromium, for the person
and for a delegate acting for them, in English and Swedish, on a desktop and at 390 px wide.

The crawl follows the app's own links (same origin, GET, no downloads or logout) from `/` (and
the share link viewer), every type page and up to 30 of each other shape (`/workouts/{id}`,
`/consents/{id}`) on the Swedish desktop walk, three of each on the others, and only two pages
of a list (`/records?page=…`), so it reaches every kind of page without walking a year of data.
On every page: no status of 400 or more (a broken link), the security headers (CSP with
`frame-ancestors 'none'`, nosniff, `no-store`), no console error or uncaught script error (a
CSP violation included), the page's language on `<html>`, no raw code such as
blood_pressure, and on a Swedish page no English sentence from our own catalogue. On the first
page of each shape: axe-core finds nothing serious, nothing is wider than the window, and a
screenshot is kept in test-output/screenshots/.

The pod's operator walks their own page, /operator (no menu links to it; `healthpod account
operator` names it), with a draft, an open and a closed study on it. Runs before
test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page
from playwright.sync_api import Error as PlaywrightError

from healthpod import accounts
from healthpod.consent import delegates
from healthpod.pod import now_ms

from .test_browser_flows import PASSWORD, USERNAME, _english_phrases, axe_violations, open_pod

SKIP = ("/logout", "/static/", "/api/", "/fhir/", "/docs", "/openapi", "/shl/", "/oauth/")
SKIP_SUFFIX = (".zip", ".json", ".ndjson")
PER_QUERY_SHAPE = 2  # only the first pages of a list
MAX_PAGES = 150
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # blood_pressure, heart_rate …
SIZES = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}
DELEGATE, DELEGATE_PASSWORD = "maja", "maja's long password"
ACT_FOR = {"en": f"Act for {USERNAME}", "sv": f"Företräd {USERNAME}"}
# The viewer a recipient of a share link opens: in the browser's language, or as asked.
VIEWER = "/shl/view?lang={lang}"
# What is not ours to translate: code, marked English, and what the files and records say.
OURS = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll(
    '[lang="en"], code, script, .record-title, .record-origin, .terms dd,'
    + ' [data-source], .source-name, .import-file h2, option'
  ).forEach(el => el.remove());
  return copy.innerText;
}"""


def _shape(path: str, query: str) -> str:
    shape = re.sub(r"/\d+", "/{n}", path)
    shape = re.sub(r"^/type/[^/]+", "/type/{code}", shape)
    keys = sorted(part.split("=")[0] for part in query.split("&") if part)
    return shape + ("?" + "&".join(keys) if keys else "")


@pytest.fixture(scope="module")
def delegate(live_server) -> None:
    """maja has an account, and the demo person lets her act for them (manage)."""
    pod = open_pod(live_server.home)
    try:
        with pod.engine.begin() as conn:
            demo = accounts.find_account(conn, USERNAME).person_id
            maja = pod.person_id(DELEGATE, connection=conn)
            accounts.create_account(
                conn, DELEGATE, DELEGATE_PASSWORD, person_id=maja, now_ms=now_ms()
            )
        delegates.add(pod.engine, demo, DELEGATE, role="manage", until_ms=None, now_ms=now_ms())
    finally:
        pod.close()


def _login(page: Page, base: str, lang: str, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "hp_lang", "value": lang, "url": base}])
    page.goto(f"{base}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit].primary").click()
    page.wait_for_url(f"{base}/")


def _missing_headers(headers: dict[str, str]) -> list[str]:
    """The security headers a page lacks (CSP against framing, nosniff, not cached)."""
    wanted = {
        "content-security-policy": "frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
    }
    return [name for name, value in wanted.items() if value not in headers.get(name, "")]


def _links(page: Page, base: str, here: str) -> list[str]:
    found = []
    hrefs = page.locator("a[href]").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        absolute = urlsplit(urljoin(base + here, href))
        if absolute.netloc != urlsplit(base).netloc or href.startswith("#"):
            continue
        path = absolute.path
        if path.startswith(SKIP) or path.endswith(SKIP_SUFFIX) or "/download" in path:
            continue
        found.append(path + (f"?{absolute.query}" if absolute.query else ""))
    return found


def _crawl(
    page: Page,
    base: str,
    lang: str,
    size: str,
    who: str,
    screenshots,
    axe_source,
    starts: tuple[str, ...] = (),
    within: str = "/",
    at_least: int = 15,
) -> None:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text[:200])

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {str(exc)[:200]}"))
    english = _english_phrases() if lang == "sv" else []
    per_shape = 30 if (lang, size, who) == ("sv", "desktop", "person") else 3
    seen: set[str] = set()
    shapes: Counter[str] = Counter()
    queue = list(starts) or ["/", VIEWER.format(lang=lang)]
    problems: dict[str, object] = {}
    visited = 0
    while queue and visited < MAX_PAGES:
        target = queue.pop(0)
        if target in seen:
            continue
        seen.add(target)
        split = urlsplit(target)
        shape = _shape(split.path, split.query)
        if shapes[shape] >= (PER_QUERY_SHAPE if split.query else per_shape):
            continue
        shapes[shape] += 1
        errors.clear()
        try:
            response = page.goto(base + target)
        except PlaywrightError as exc:
            if "Download is starting" in str(exc):  # a JSON receipt, a zip: not a page
                continue
            raise
        page.wait_for_load_state("networkidle")
        visited += 1
        status = response.status if response is not None else 0
        if status >= 400 or status == 0:
            problems[f"{target}: status"] = status
            continue
        missing = _missing_headers(response.all_headers())
        if missing:
            problems[f"{target}: headers"] = missing
        if page.locator("html").get_attribute("lang") != lang:
            problems[f"{target}: lang"] = page.locator("html").get_attribute("lang")
        text = page.evaluate(OURS)
        left = [phrase for phrase in english if phrase in text]
        if left:
            problems[f"{target}: English"] = left[:5]
        raw = sorted(set(RAW_CODE.findall(text)))
        if raw:
            problems[f"{target}: raw codes"] = raw[:5]
        if shapes[shape] == 1:
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 0:
                problems[f"{target}: wider than the window by px"] = wide
            violations = axe_violations(page, axe_source)
            if violations:
                problems[f"{target}: axe"] = [
                    {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
                    for v in violations
                ]
            name = re.sub(r"[^a-z0-9]+", "-", shape.lower()).strip("-") or "overview"
            page.screenshot(
                path=screenshots / f"crawl-{who}-{lang}-{size}-{name}.png", full_page=True
            )
        if errors:
            problems[f"{target}: console"] = list(errors)[:3]
        queue += [
            link
            for link in _links(page, base, target)
            if link not in seen and link.startswith(within)
        ]
    (screenshots.parent / f"crawl-{who}-{lang}-{size}.json").write_text(
        json.dumps({"visited": visited, "shapes": dict(shapes)}, indent=1), encoding="utf-8"
    )
    assert visited >= at_least, f"the crawl reached only {visited} pages: {sorted(shapes)}"
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_reachable_page_for_the_person(
    page: Page, live_server, screenshots, axe_source, lang, size
):
    page.set_viewport_size(SIZES[size])
    _login(page, live_server.url, lang, USERNAME, PASSWORD)
    _crawl(page, live_server.url, lang, size, "person", screenshots, axe_source)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_every_reachable_page_for_a_delegate_acting_for_the_person(
    page: Page, live_server, screenshots, axe_source, delegate, lang, size
):
    page.set_viewport_size(SIZES[size])
    _login(page, live_server.url, lang, DELEGATE, DELEGATE_PASSWORD)
    page.goto(f"{live_server.url}/sharing")
    page.get_by_role("button", name=ACT_FOR[lang]).click()
    page.wait_for_url(f"{live_server.url}/")
    _crawl(page, live_server.url, lang, size, "delegate", screenshots, axe_source)


@pytest.fixture(scope="module")
def operator(live_server) -> None:
    """The demo login is the pod's operator, with a draft, an open and a closed study."""
    from datetime import date

    from healthpod.consent import actors
    from healthpod.research import studies

    pod = open_pod(live_server.home)
    try:
        with pod.engine.begin() as conn:
            demo = accounts.find_account(conn, USERNAME).person_id
            accounts.set_operator(conn, demo, True, now_ms=now_ms())
            sponsor = actors.register(
                conn,
                name="Uppsala Steps",
                kind="research",
                purpose="HRESCH",
                redirect_uris=["https://r.example/cb"],
                public=False,
                now_ms=now_ms(),
            ).actor.client_id
            made = [
                studies.create(
                    conn,
                    studies.StudyPlan(
                        title=title,
                        sponsor=sponsor,
                        duo="HMB",
                        categories="activity",
                        granularity="daily",
                        data_from=date(2025, 1, 1),
                        data_to=date(2026, 1, 1),
                        min_cohort=2,
                        epsilon=2,
                        summary_en="Steps in winter.",
                        summary_sv="Steg på vintern.",
                    ),
                    now_ms=now_ms(),
                )
                for title in ("Draft study", "Open study", "Closed study")
            ]
            studies.open_study(conn, made[1].id, now_ms=now_ms())
            studies.open_study(conn, made[2].id, now_ms=now_ms())
            studies.close_study(conn, made[2].id, now_ms=now_ms())
    finally:
        pod.close()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_operators_page(page: Page, live_server, screenshots, axe_source, operator, lang, size):
    page.set_viewport_size(SIZES[size])
    _login(page, live_server.url, lang, USERNAME, PASSWORD)
    _crawl(
        page,
        live_server.url,
        lang,
        size,
        "operator",
        screenshots,
        axe_source,
        starts=("/operator",),
        within="/operator",
        at_least=1,
    )
