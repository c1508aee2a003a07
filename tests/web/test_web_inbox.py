"""The inbox page: what happened, in English and Swedish; email settings with bad input."""

from __future__ import annotations

import contextlib

from healthpod.consent import AccessRequest, Action, access, actors
from healthpod.errors import AccessDenied
from healthpod.notify import inbox
from healthpod.pod import now_ms

HTML = {"accept": "text/html"}


def _refused(pod, person: int) -> None:
    with pod.engine.begin() as conn:
        app = actors.register(
            conn,
            name="Step App",
            kind="app",
            purpose="dpv:ServiceProvision",
            redirect_uris=["https://app.example/cb"],
            public=True,
            now_ms=now_ms(),
        ).actor.id
    with contextlib.suppress(AccessDenied):
        access.open_for_actor(
            pod.engine,
            pod.engine,
            AccessRequest(person, app, Action.READ, frozenset({"heart"})),
            event="fhir.search",
            now_ms=now_ms(),
        )


def test_the_inbox_shows_a_refused_access_and_marks_it_read(logged_in, pod, account, csrf_of):
    _refused(pod, account)
    page = logged_in.get("/inbox", headers=HTML)
    assert page.status_code == 200
    assert "An access by Step App was refused." in page.text
    assert "Unread: 1" in page.text
    read = logged_in.post(
        "/inbox/read",
        data={"csrf_token": csrf_of(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert read.status_code == 303
    assert "Unread: 0" in logged_in.get("/inbox", headers=HTML).text
    logged_in.cookies.set("hp_lang", "sv")
    swedish = logged_in.get("/inbox", headers=HTML).text
    assert "En åtkomst av Step App nekades." in swedish
    assert "Inkorg" in swedish


def test_email_settings_are_saved_and_bad_ones_change_nothing(logged_in, pod, account, csrf_of):
    page = logged_in.get("/inbox", headers=HTML)
    csrf = csrf_of(page.text)
    ok = logged_in.post(
        "/inbox/settings",
        data={"csrf_token": csrf, "email": "anna@example.org", "kind-access-refused": "daily"},
        headers=HTML,
        follow_redirects=False,
    )
    assert ok.status_code == 303
    saved = inbox.prefs(pod.engine, account)
    assert saved.email == "anna@example.org"
    assert saved.frequency("access-refused") == "daily"
    assert saved.frequency("first-read") == "weekly"
    for bad in (
        {"email": "not an address"},
        {"email": "anna@example.org", "kind-first-read": "hourly"},
    ):
        response = logged_in.post(
            "/inbox/settings",
            data={"csrf_token": csrf, **bad},
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 400
        assert 'role="alert"' in response.text
        assert inbox.prefs(pod.engine, account) == saved


def test_nobody_else_sees_my_inbox(client, pod, account):
    _refused(pod, account)
    response = client.get("/inbox", headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
