"""A consent's own page, `/consents/{id}`: the address every receipt points to."""

from __future__ import annotations

from healthpod.consent import store as consent_store
from healthpod.consent.receipt import build_receipt
from healthpod.pod import now_ms

from .test_web_sharing_and_data import _coach

HTML = {"accept": "text/html"}


def test_every_receipt_link_resolves_to_a_page_that_shows_the_receipt(logged_in, pod, account):
    actor, consent = _coach(pod, account)
    with pod.engine.connect() as conn:
        change = consent_store.changes(conn, account, consent.id)[0]
    receipt = build_receipt(change, actor, base_url=pod.settings.public_base_url, language="en")
    for field in (receipt["policyUrl"], receipt["consentRecord"]["recordId"]):
        path = "/" + str(field).split("/", 3)[3]
        page = logged_in.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert receipt["consentReceiptID"] in page.text
        assert "Coach Anna" in page.text
        assert "Revoke access for Coach Anna" in page.text


def test_a_revoked_consent_says_when_it_was_revoked(logged_in, pod, account):
    _actor, consent = _coach(pod, account)
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, account, consent.id, now_ms=now_ms())
    for path in (f"/consents/{consent.id}", "/sharing"):
        page = logged_in.get(path, headers=HTML)
        assert 'data-state="revoked"' in page.text
        assert "Revoked on" in page.text
        assert "Revoke access for Coach Anna" not in page.text
    logged_in.cookies.set("hp_lang", "sv")
    assert "Återkallat" in logged_in.get(f"/consents/{consent.id}", headers=HTML).text


def test_another_persons_consent_is_not_found(logged_in, pod, account):
    other = pod.person_id("someone-else")
    _actor, theirs = _coach(pod, other)
    page = logged_in.get(f"/consents/{theirs.id}", headers=HTML)
    assert page.status_code == 404
    assert "Coach Anna" not in page.text
    for wrong in ("abc", "99999", "1" * 30):
        assert logged_in.get(f"/consents/{wrong}", headers=HTML).status_code == 404
