"""Delegates, the inbox and share links in Chromium, in English and Swedish, on a desktop and
at 390 px: a delegate acts for the demo person with "acting for" on every page, the person's
inbox tells of it, and a share link's QR code, as the browser draws it, decodes to the link.
On each page axe-core finds nothing serious and nothing is wider than the window.

Runs before test_browser_flows.py (which ends by deleting everything) on the same demo pod.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from tests.share.qr_decode import decode_pixels

from healthpod import accounts
from healthpod.consent import delegates
from healthpod.pod import now_ms

from .test_browser_flows import PASSWORD, USERNAME, axe_violations, open_pod

DELEGATE, DELEGATE_PASSWORD = "erik", "erik's long password"
SIZES = {"desktop": {"width": 1200, "height": 900}, "phone": {"width": 390, "height": 844}}
TEXT = {
    "en": {
        "act": f"Act for {USERNAME}",
        "acting": f"You are acting for {USERNAME}.",
        "stop": f"Stop acting for {USERNAME}",
        "told": "erik acted for you (read).",
        "make": "Make share link",
        "heart": "Heart",
    },
    "sv": {
        "act": f"Företräd {USERNAME}",
        "acting": f"Du företräder {USERNAME}.",
        "stop": f"Sluta företräda {USERNAME}",
        "told": "erik företrädde dig (läste).",
        "make": "Gör delningslänk",
        "heart": "Hjärta",
    },
}


@pytest.fixture(scope="module")
def delegate(live_server) -> None:
    """erik has an account, and the demo person lets him act for them (manage)."""
    pod = open_pod(live_server.home)
    try:
        with pod.engine.begin() as conn:
            demo = accounts.find_account(conn, USERNAME).person_id
            erik = pod.person_id("erik", connection=conn)
            accounts.create_account(
                conn, DELEGATE, DELEGATE_PASSWORD, person_id=erik, now_ms=now_ms()
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


def _check(page: Page, axe_source: str, name: str, problems: dict[str, object]) -> None:
    page.wait_for_load_state("networkidle")
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if wide > 0:
        problems[f"{name}: wider than the window by px"] = wide
    violations = axe_violations(page, axe_source)
    if violations:
        problems[f"{name}: axe"] = [
            {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in violations
        ]


DRAW_QR = """async () => {
  const svg = document.querySelector('svg.qr');
  let xml = new XMLSerializer().serializeToString(svg);
  if (!xml.includes('xmlns=')) xml = xml.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"');
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(xml);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth * 2; canvas.height = img.naturalHeight * 2;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const gray = new Array(canvas.width * canvas.height);
  for (let i = 0; i < gray.length; i++) gray[i] = data[i * 4 + 1];
  return {width: canvas.width, height: canvas.height, gray};
}"""


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "sv"])
def test_acting_for_someone_the_inbox_and_a_share_links_qr_code(
    page: Page, live_server, screenshots, axe_source, delegate, lang, size
):
    base, text = live_server.url, TEXT[lang]
    page.set_viewport_size(SIZES[size])
    problems: dict[str, object] = {}

    # erik chooses to act for the demo person; every page says so.
    _login(page, base, lang, DELEGATE, DELEGATE_PASSWORD)
    page.goto(f"{base}/sharing")
    page.get_by_role("button", name=text["act"]).click()
    page.wait_for_url(f"{base}/")
    for name, path in (
        ("acting-overview", "/"),
        ("acting-sharing", "/sharing"),
        ("acting-inbox", "/inbox"),
    ):
        page.goto(base + path)
        expect(page.get_by_role("note").filter(has_text=text["acting"])).to_be_visible()
        _check(page, axe_source, name, problems)
        page.screenshot(path=screenshots / f"{name}-{lang}-{size}.png", full_page=True)
    page.get_by_role("button", name=text["stop"]).click()
    expect(page.get_by_text(text["acting"])).to_have_count(0)

    # The demo person's inbox tells of it.
    _login(page, base, lang, USERNAME, PASSWORD)
    page.goto(f"{base}/inbox")
    expect(page.get_by_text(text["told"]).first).to_be_visible()
    _check(page, axe_source, "inbox", problems)
    page.screenshot(path=screenshots / f"inbox-{lang}-{size}.png", full_page=True)

    # A share link made on the Sharing page: its QR code, drawn by the browser, is the link.
    page.goto(f"{base}/sharing#links")
    _check(page, axe_source, "sharing", problems)
    form = page.locator("#make-link")
    form.get_by_label(text["heart"], exact=True).check()
    form.get_by_role("button", name=text["make"]).click()
    viewer = page.locator("#viewer-url").input_value()
    drawn = page.evaluate(DRAW_QR)
    pixels = np.array(drawn["gray"], dtype=np.uint8).reshape(drawn["height"], drawn["width"])
    assert decode_pixels(pixels) == viewer
    _check(page, axe_source, "share-link-made", problems)
    page.screenshot(path=screenshots / f"share-link-made-{lang}-{size}.png", full_page=True)
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
