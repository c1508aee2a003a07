"""Email digests go out in the person's own language: the one they chose in the web app (kept in
their pod when they choose it signed in), else the pod's default (English). Through the real
web app over HTTP and a real SMTP server (aiosmtpd) in the test process."""

from __future__ import annotations

import re
from email import message_from_bytes, message_from_string, policy

import httpx
from tests.notify.test_notifications import (
    _in_thread,
    _smtp,
    _with_smtp,
    smtp_port,  # noqa: F401 (a fixture)
    story,  # noqa: F401 (a fixture)
)
from tests.smart_support import live_server, login_with_form

from healthpod.notify import digest, inbox
from healthpod.pod import now_ms
from healthpod.store import notifications

PASSWORD = "long secret 1"  # the story's accounts


def _choose(base: str, username: str, language: str) -> None:
    """Sign in through the login form and pick a language in Settings, as a browser does."""
    with httpx.Client(base_url=base, headers={"accept": "text/html"}) as browser:
        login_with_form(browser, username, PASSWORD)
        page = browser.get("/settings")
        assert page.status_code == 200, page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        chosen = browser.post(
            "/language",
            data={"csrf_token": token[1], "language": language, "next": "/settings"},
            follow_redirects=False,
        )
        assert chosen.status_code == 303


def _subject_and_body(raw: str) -> tuple[str, str]:
    # The test's SMTP server kept the message as text; it went over the wire as UTF-8.
    message = message_from_bytes(raw.encode("utf-8"), policy=policy.default)
    return str(message["Subject"]), str(message.get_content())  # type: ignore[attr-defined]


def test_a_swedish_person_gets_a_swedish_digest_and_an_unset_one_english(
    pod,
    story,  # noqa: F811
    smtp_port,  # noqa: F811
):
    anna, erik = story
    with live_server(pod) as base:
        _choose(base, "anna", "sv")
        # A new browser, without the language cookie: signing in brings the choice back.
        with httpx.Client(base_url=base, headers={"accept": "text/html"}) as other:
            login_with_form(other, "anna", PASSWORD)
            assert other.cookies.get("hp_lang") == "sv"
            assert '<html lang="sv">' in other.get("/settings").text
        # A choice that is not a language we have changes nothing.
        with httpx.Client(base_url=base, headers={"accept": "text/html"}) as browser:
            login_with_form(browser, "erik", PASSWORD)
            page = browser.get("/settings").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            browser.post("/language", data={"csrf_token": token[1], "language": "xx"})
    for person in (anna, erik):
        inbox.set_digests(
            pod.engine,
            person,
            email=f"p{person}@example.org",
            digests=dict.fromkeys(notifications.KINDS, "daily"),
        )
    controller, box = _smtp(smtp_port)
    try:
        report = _in_thread(digest.send_digests, _with_smtp(pod, smtp_port), now_ms=now_ms())
    finally:
        controller.stop()
    assert report.sent == 2 and not report.failed
    by_to = {message_from_string(m)["To"]: _subject_and_body(m) for m in box.messages}
    subject, body = by_to[f"p{anna}@example.org"]
    assert "nya händelser" in subject and "(dag)" in subject
    assert body.startswith("Det här har hänt i din hälsopod:")
    assert "Se allt i din inkorg:" in body
    assert "This happened" not in body
    subject, body = by_to[f"p{erik}@example.org"]
    assert "new notification" in subject and "(daily)" in subject
    assert body.startswith("This happened in your health pod:")
    assert "hälsopod" not in body
