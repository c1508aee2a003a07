"""The access log in plain words: who, what data, when, the outcome and why; a denial says why
in the page's language; the person's sign-ins of a day are one row; bad filters are a message
on the page with the form as sent."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime

import pytest

from healthpod import accounts
from healthpod.consent import access
from healthpod.consent import store as consent_store
from healthpod.consent.model import AccessRequest, Action
from healthpod.pod import now_ms

from .test_web_sharing_and_data import _coach

HTML = {"accept": "text/html"}
DAY_MS = 86_400_000


def _ask(pod, person_id, actor_id, categories, *, at_ms=None):
    return access.authorize(
        pod.engine,
        AccessRequest(person_id, actor_id, Action.READ, frozenset(categories), "Observation"),
        event="fhir.search",
        details={"path": "/fhir/Observation"},
        now_ms=at_ms or now_ms(),
    )


def _rows(page: str) -> list[dict[str, str]]:
    rows = []
    for attrs, body in re.findall(r"<tr (data-outcome=[^>]*)>(.*?)</tr>", page, re.S):
        cells = [
            re.sub(
                r"\s+", " ", html_lib.unescape(re.sub(r"<details>.*?</details>|<[^>]+>", " ", c))
            ).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        rows.append(
            {
                "attrs": attrs,
                "when": cells[0],
                "who": cells[1],
                "what": cells[2],
                "result": cells[3],
                "why": cells[4],
            }
        )
    return rows


def _log(client, query: str = "", lang: str = "en"):
    client.cookies.set("hp_lang", lang)
    return client.get(f"/access-log{query}", headers=HTML)


def test_a_denial_says_why_in_plain_words_in_both_languages(logged_in, pod, account):
    actor, consent = _coach(pod, account)  # activity only
    assert not _ask(pod, account, actor.id, {"heart"}).allowed
    english = _rows(_log(logged_in, f"?actor={actor.id}&outcome=denied").text)
    assert len(english) == 1
    assert english[0]["who"] == "Coach Anna" and english[0]["what"] == "Search (Heart)"
    assert english[0]["result"] == "Denied"
    assert english[0]["why"].startswith(f"Consent #{consent.id} does not cover Heart.")
    swedish = _rows(_log(logged_in, f"?actor={actor.id}&outcome=denied", "sv").text)
    assert swedish[0]["what"] == "Sökning (Hjärta)" and swedish[0]["result"] == "Nekad"
    assert swedish[0]["why"].startswith(f"Samtycke #{consent.id} täcker inte Hjärta.")
    for raw in ("heart", "does not cover", "fhir.search"):
        assert raw not in swedish[0]["why"] + swedish[0]["what"]


def test_revoked_and_expired_consents_are_named_with_their_dates(logged_in, pod, account):
    actor, consent = _coach(pod, account)
    with pod.engine.begin() as conn:
        consent_store.revoke(conn, account, consent.id, now_ms=now_ms())
    assert not _ask(pod, account, actor.id, {"activity"}).allowed
    rows = _rows(_log(logged_in, f"?actor={actor.id}").text)
    today = datetime.now(UTC).date()
    revoked_on = f"{today.day} {today.strftime('%b')} {today.year}"
    assert rows[0]["why"].startswith(f"You revoked consent #{consent.id} on {revoked_on}.")
    mine = _rows(_log(logged_in, "?actor=you&outcome=done").text)
    assert mine[0]["who"] == "You" and mine[0]["result"] == "Done"
    assert mine[0]["what"] == "Consent revoked (Coach Anna)"
    assert mine[0]["why"].startswith(f"You revoked consent #{consent.id}.")
    # the revocation is the person's act: never an actor's "Allowed"
    assert all(r["who"] != "Coach Anna" for r in mine)

    other, second = _coach(pod, account)
    assert not _ask(pod, account, other.id, {"activity"}, at_ms=now_ms() + 3 * DAY_MS).allowed
    expired = _rows(_log(logged_in, f"?actor={other.id}&outcome=denied", "sv").text)
    assert expired[0]["why"].startswith(f"Samtycke #{second.id} gick ut den ")


def test_no_consent_and_allowed_reads_in_words(logged_in, pod, account):
    actor, consent = _coach(pod, account)
    with pod.engine.begin() as conn:
        from healthpod.consent import actors

        stranger = actors.register(
            conn,
            name="Stranger App",
            kind="app",
            purpose="dpv:ServiceProvision",
            redirect_uris=["http://127.0.0.1:9/cb"],
            public=True,
            now_ms=now_ms(),
        ).actor
    assert not _ask(pod, account, stranger.id, {"activity"}).allowed
    assert _ask(pod, account, actor.id, {"activity"}).allowed
    rows = _rows(_log(logged_in).text)
    by_who = {r["who"]: r for r in rows if r["who"] in ("Stranger App", "Coach Anna")}
    assert by_who["Stranger App"]["why"].startswith("You have not given them a consent.")
    assert by_who["Coach Anna"]["why"].startswith(f"Your consent #{consent.id} covers this.")
    assert f'href="/consents/{consent.id}"' in _log(logged_in).text


def test_sign_ins_of_a_day_are_one_row(logged_in, pod, account):
    for _ in range(3):
        accounts.authenticate(
            pod.engine, "anna", "correct horse battery", address="t", now_ms=now_ms()
        )
    page = _log(logged_in, "?actor=you").text
    rows = _rows(page)
    sign_ins = [r for r in rows if "signed in" in r["why"]]
    assert len(sign_ins) == 1  # the fixture's login and these three
    assert re.match(r"You signed in 4 times on \d{1,2} \w{3} \d{4}\.", sign_ins[0]["why"])
    assert 'data-folded="4"' in page
    swedish = [
        r for r in _rows(_log(logged_in, "?actor=you", "sv").text) if "loggade in" in r["why"]
    ]
    assert re.match(r"Du loggade in 4 gånger den \d{1,2} \w+\.? \d{4}\.", swedish[0]["why"])
    assert re.search(r", \d{2}:\d{2}", swedish[0]["when"])  # 24-hour clock


@pytest.mark.parametrize(
    ("query", "english", "swedish"),
    [
        ("?from=2026-02-30", "“2026-02-30” is not a date", "”2026-02-30” är inte ett datum"),
        ("?from=2026-03-02&to=2026-03-01", "The “To” date is before", "Datumet i ”Till”"),
        ("?actor=999999", "There is no one called “999999”", "Det finns ingen som heter"),
        ("?outcome=maybe", "There is no result called “maybe”", "inget resultat som heter"),
    ],
)
def test_bad_filters_are_a_message_with_the_form_kept(logged_in, query, english, swedish):
    for lang, expected in (("en", english), ("sv", swedish)):
        response = _log(logged_in, query, lang)
        assert response.status_code == 400
        text = html_lib.unescape(response.text)
        assert expected in text and 'role="alert"' in text
        assert 'action="/access-log"' in text
        if "from=" in query:
            assert f'value="{query.split("from=")[1].split("&")[0]}"' in text


def test_another_persons_log_is_not_on_my_page(logged_in, pod, account):
    other = pod.person_id("someone-else")
    actor, _consent = _coach(pod, other)
    assert _ask(pod, other, actor.id, {"activity"}).allowed
    assert "Coach Anna" not in " ".join(r["who"] for r in _rows(_log(logged_in).text))
