"""Delegates in the web app: give one on the Sharing page, act for someone, and who must NOT
do what while acting (delegate further, change the person's settings, read after a revoke)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from healthpod import accounts
from healthpod.app import create_app
from healthpod.consent import audit
from healthpod.pod import Pod, now_ms
from healthpod.share import links

from .conftest import PASSWORD, USERNAME, _csrf_of

HTML = {"accept": "text/html"}
ERIK = "erik"


@pytest.fixture
def erik_id(pod: Pod) -> int:
    person = pod.person_id("erik-the-person")
    with pod.engine.begin() as conn:
        accounts.create_account(conn, ERIK, PASSWORD, person_id=person, now_ms=now_ms())
    return person


def _login(client: TestClient, username: str) -> TestClient:
    page = client.get("/login", headers=HTML)
    response = client.post(
        "/login",
        data={"csrf_token": _csrf_of(page.text), "username": username, "password": PASSWORD},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def erik(pod: Pod, erik_id: int) -> Iterator[TestClient]:
    with TestClient(create_app(pod.settings, pod=pod), base_url="http://testserver") as c:
        yield _login(c, ERIK)


def _post(client: TestClient, path: str, data: dict[str, str], page: str = "/sharing"):
    csrf = _csrf_of(client.get(page, headers=HTML).text)
    return client.post(
        path, data={"csrf_token": csrf, **data}, headers=HTML, follow_redirects=False
    )


def _entries(pod: Pod, person: int) -> list[audit.LogEntry]:
    with pod.engine.connect() as conn:
        return audit.entries(conn, person)


def test_a_delegate_acts_for_the_person_and_every_page_is_logged(
    logged_in, erik, pod, account, erik_id
):
    added = _post(logged_in, "/sharing/delegates", {"username": ERIK, "role": "view"})
    assert added.status_code == 303
    sharing = logged_in.get("/sharing", headers=HTML).text
    assert "Revoke delegation for erik" in sharing

    choices = erik.get("/sharing", headers=HTML).text
    assert f"Act for {USERNAME}" in choices
    chosen = _post(erik, "/acting", {"person_id": str(account)})
    assert chosen.status_code == 303
    before = len(_entries(pod, account))
    for path in ("/", "/all-data", "/access-log", "/sharing"):
        page = erik.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert f"You are acting for {USERNAME}." in page.text
        assert "Let someone act for you" not in page.text  # nobody delegates further
    reads = _entries(pod, account)[before:]
    assert [e.details["path"] for e in reads] == ["/", "/all-data", "/access-log", "/sharing"]
    assert {(e.done_by, e.outcome, e.details["delegate"]) for e in reads} == {
        ("delegate", "allowed", ERIK)
    }
    # Nothing offered that only the person may do (everything under /data is refused).
    records = erik.get("/records", headers=HTML).text
    assert 'action="/data/' not in records and "/data/delete-one" not in records
    assert 'action="/data/note"' in logged_in.get("/records", headers=HTML).text
    # erik's own pages are untouched: his inbox tells him he was given the delegation.
    assert not [e for e in _entries(pod, erik_id) if e.event.startswith("web.")]

    # A view delegate may not import or manage sharing; nobody acting may delegate further.
    refused = _post(erik, "/sharing/delegates", {"username": "someone", "role": "view"})
    assert refused.status_code == 403
    last = _entries(pod, account)[-1]
    assert (last.event, last.outcome) == ("web.delegate", "denied")
    no_link = _post(erik, "/sharing/links", {"category": "heart", "expires": "7d"})
    assert no_link.status_code == 403
    last = _entries(pod, account)[-1]
    assert (last.event, last.outcome) == ("web.share", "denied")
    assert links.of_person(pod, account) == []
    # What only the person does is refused before anything is read.
    for path in ("/settings", "/data"):
        assert erik.get(path, headers=HTML).status_code == 403

    stopped = _post(erik, "/acting/stop", {})
    assert stopped.status_code == 303
    own = erik.get("/", headers=HTML).text
    assert "You are acting for" not in own


def test_a_revoked_delegate_is_refused_on_the_next_page(logged_in, erik, pod, account):
    _post(logged_in, "/sharing/delegates", {"username": ERIK, "role": "manage"})
    _post(erik, "/acting", {"person_id": str(account)})
    assert erik.get("/", headers=HTML).status_code == 200
    revoke_form = re.search(
        r'action="(/sharing/delegates/\d+/revoke)"', logged_in.get("/sharing", headers=HTML).text
    )
    assert revoke_form
    assert _post(logged_in, revoke_form.group(1), {}).status_code == 303
    page = erik.get("/", headers=HTML)
    assert page.status_code == 403
    assert "revoked" in page.text
    assert f"Stop acting for {USERNAME}" in page.text  # the way back is on the refusal too
    last = _entries(pod, account)[-1]
    assert (last.done_by, last.outcome) == ("delegate", "denied")


def test_acting_for_someone_without_a_delegation_is_refused(erik, pod, account):
    response = _post(erik, "/acting", {"person_id": str(account)})
    assert response.status_code == 400
    # A hand-made cookie naming someone else chooses nothing: erik sees his own pod.
    erik_cookie = f"{erik.cookies.get('hp_acting') or ''}"
    assert erik_cookie == ""
    erik.cookies.set("hp_acting", f"1:{account}")
    page = erik.get("/", headers=HTML)
    assert "You are acting for" not in page.text


@pytest.mark.parametrize(
    ("username", "until", "message"),
    [
        (USERNAME, "", "You cannot delegate to yourself."),
        ("nobody-at-all", "", "There is no account called"),
        (ERIK, "yesterday", "The end date is not a date."),
        (ERIK, "2001-01-01", "The end date has passed."),
    ],
)
def test_bad_delegations_say_why_and_change_nothing(
    logged_in, erik_id, pod, account, username, until, message
):
    before = len(_entries(pod, account))
    response = _post(
        logged_in, "/sharing/delegates", {"username": username, "role": "view", "until": until}
    )
    assert response.status_code in (400, 404)
    assert message in response.text
    assert "Nobody can act for you." in response.text
    assert len(_entries(pod, account)) == before


def test_the_delegates_section_is_swedish_too(logged_in, erik_id):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/sharing", headers=HTML).text
    assert "Personer som kan företräda dig" in page


def test_a_manage_delegate_imports_for_the_person_and_a_view_delegate_may_not(
    logged_in, erik, pod, account, erik_id
):
    from tests.conftest import DATA

    from healthpod.jobs import state

    example = sorted((DATA / "fhir" / "r4-examples").glob("*.json"))[0]
    _post(logged_in, "/sharing/delegates", {"username": ERIK, "role": "view"})
    _post(erik, "/acting", {"person_id": str(account)})

    def upload():
        csrf = _csrf_of(erik.get("/import", headers=HTML).text)
        return erik.post(
            "/import",
            data={"csrf_token": csrf},
            files={"files": (example.name, example.read_bytes(), "application/json")},
            headers=HTML,
            follow_redirects=False,
        )

    refused = upload()
    assert refused.status_code == 403
    last = _entries(pod, account)[-1]
    assert (last.event, last.outcome, last.details["delegate"]) == ("web.import", "denied", ERIK)

    revoke = re.search(
        r'action="(/sharing/delegates/\d+/revoke)"', logged_in.get("/sharing", headers=HTML).text
    )
    assert revoke
    _post(logged_in, revoke.group(1), {})
    _post(logged_in, "/sharing/delegates", {"username": ERIK, "role": "manage"})
    started = upload()
    assert started.status_code == 303, started.text
    job_id = started.headers["location"].rsplit("/", 1)[1]
    job = state.load_for(pod.settings.home, job_id, account)
    assert job is not None  # the person's import, not erik's
    assert state.load_for(pod.settings.home, job_id, erik_id) is None
    last_import = [e for e in _entries(pod, account) if e.event == "web.import"][-1]
    assert (last_import.outcome, last_import.details["delegate_id"]) == ("allowed", erik_id)


def test_a_delegate_is_offered_no_link_that_only_the_person_may_open(
    logged_in, erik, pod, account, ten_days
):
    """Acting for someone, every link on the pages they see opens: the person's own pages
    (settings, your data, a consent's page, deleting a record or an import) are not offered."""
    from tests.smart_support import add_actor

    from healthpod.consent import store as consent_store
    from healthpod.consent.model import Action, Scope

    actor = add_actor(pod.engine).actor
    with pod.engine.begin() as conn:
        consent_store.grant(
            conn,
            account,
            actor.id,
            Scope(categories=frozenset({"heart"}), actions=frozenset({Action.READ})),
            valid_until_ms=None,
            now_ms=now_ms(),
        )
    _post(logged_in, "/sharing/delegates", {"username": ERIK, "role": "manage"})
    assert _post(erik, "/acting", {"person_id": str(account)}).status_code == 303
    refused = []
    for page in ("/", "/all-data", "/import", "/records", "/sharing", "/access-log", "/research"):
        html = erik.get(page, headers=HTML).text
        assert f"You are acting for {USERNAME}." in html, page
        for href in sorted(set(re.findall(r'<a[^>]* href="(/[^"#]*)"', html))):
            href = href.replace("&amp;", "&")
            if href.startswith(("/static/", "/api/", "/fhir/", "/logout", "/shl/")):
                continue
            if erik.get(href, headers=HTML).status_code == 403:
                refused.append(f"{page} -> {href}")
    assert refused == []
