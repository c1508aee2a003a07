"""The operator's page in a real Chromium, in English and Swedish: the operator creates, opens
and closes a study; a person who is not the operator sees only a refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .test_browser_flows import axe_violations

OPERATOR, PERSON, PASSWORD = "olga-operator", "nils-person", "a long operator password"


def _healthpod(home: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-m", "healthpod", "--home", str(home), *args],
        check=True,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "HEALTHPOD_LOG_LEVEL": "WARNING"},
    ).stdout


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login?next=/operator")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_the_operator_runs_a_study_in_both_languages(
    browser: Browser, live_server, screenshots, axe_source
):
    home = live_server.home
    for username in (OPERATOR, PERSON):
        _healthpod(
            home,
            "account",
            "create",
            username,
            "--person",
            username,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
    _healthpod(home, "account", "operator", OPERATOR)
    _healthpod(
        home,
        "actor",
        "add",
        "--name",
        "Winter Walks Research",
        "--kind",
        "research",
        "--purpose",
        "HRESCH",
        "--redirect-uri",
        "https://research.example/callback",
    )

    # A person who is not the operator: a refusal page, and no study on it.
    other = browser.new_context(locale="en-GB")
    refused = other.new_page()
    _login(refused, live_server.url, PERSON)
    expect(refused.get_by_text("Only the pod's operator can see this page.")).to_be_visible()
    expect(refused.get_by_role("heading", name="Create a study")).to_have_count(0)
    other.close()

    context = browser.new_context(locale="en-GB", viewport={"width": 1200, "height": 900})
    page = context.new_page()
    _login(page, live_server.url, OPERATOR)
    expect(page.get_by_role("heading", name="Operator", level=1)).to_be_visible()
    page.get_by_label("Title", exact=True).fill("Walking in winter")
    page.get_by_label("Run by").select_option(label="Winter Walks Research")
    page.get_by_label("Used for (GA4GH DUO codes, e.g. HMB,NCU)").fill("HMB,NCU")
    page.get_by_label("Activity", exact=True).check()
    page.get_by_label("Data from").fill("2025-01-01")
    page.get_by_label("Data until (not included)").fill("2026-01-01")
    page.get_by_label("Minimum cohort").fill("20")
    page.get_by_label("Privacy budget per participant (ε)").fill("2")
    page.get_by_role("button", name="Create the study").click()
    expect(page.get_by_role("status")).to_contain_text("created as a draft")
    row = page.locator("tr", has_text="Walking in winter")
    expect(row.locator(".state")).to_have_text("Draft")
    expect(row.locator(".participants")).to_have_text("0")
    row.get_by_role("button", name="Open study").click()
    expect(page.get_by_role("status")).to_contain_text("people can join it")
    expect(page.locator("tr", has_text="Walking in winter").locator(".state")).to_have_text("Open")
    assert axe_violations(page, axe_source) == []
    page.screenshot(path=screenshots / "operator.png", full_page=True)

    page.get_by_role("button", name="Svenska").click()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", name="Operatör", level=1)).to_be_visible()
    row = page.locator("tr", has_text="Walking in winter")
    expect(row.locator(".state")).to_have_text("Öppen")
    row.get_by_role("button", name="Stäng studie").click()
    expect(page.get_by_role("status")).to_contain_text("Studien är stängd")
    expect(page.locator("tr", has_text="Walking in winter").locator(".state")).to_have_text(
        "Stängd"
    )
    page.screenshot(path=screenshots / "operator-sv.png", full_page=True)
    context.close()
