"""The operator's view of research studies (en and sv), on SQLite and PostgreSQL.

Who must NOT see what: a person whose login is not the pod's operator gets a 403 page for the
view and for every change (logged), and nothing changes; an operator's refused study is a
message with nothing stored, by the same rules as `healthpod study create`.
"""

from __future__ import annotations

import html
import logging
from datetime import date

import pytest
from click.testing import CliRunner

from healthpod import accounts
from healthpod.cli import cli
from healthpod.consent import actors
from healthpod.pod import now_ms
from healthpod.research import studies

from .conftest import USERNAME

HTML = {"accept": "text/html"}


@pytest.fixture
def sponsor(pod):
    with pod.engine.begin() as conn:
        made = actors.register(
            conn,
            name="Uppsala Steps",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now_ms(),
        )
        draft = studies.create(
            conn,
            studies.StudyPlan(
                title="Walking in winter",
                sponsor=made.actor.client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=2,
                epsilon=2,
            ),
            now_ms=now_ms(),
        )
    return made.actor.client_id, draft.id


def _operator(pod, database_url, *, off=False):
    """Through the command line, as a pod's operator would."""
    args = ["--home", str(pod.settings.home), "--database-url", database_url]
    result = CliRunner().invoke(
        cli, [*args, "account", "operator", USERNAME, *(["--off"] if off else [])]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _form(page_text: str, csrf_of) -> dict[str, str]:
    return {"csrf_token": csrf_of(page_text)}


def _status(pod, study_id):
    with pod.engine.connect() as conn:
        return studies.get(conn, study_id).status


def test_who_is_not_the_operator_gets_a_403_page_and_changes_nothing(
    logged_in, pod, sponsor, csrf_of, caplog
):
    _client_id, draft = sponsor
    with caplog.at_level(logging.WARNING, logger="healthpod.web.pages.operator"):
        page = logged_in.get("/operator", headers=HTML)
    assert page.status_code == 403
    assert "Only the pod's operator can see this page." in html.unescape(page.text)
    assert "Walking in winter" not in page.text
    assert "operator page refused" in caplog.text
    assert 'href="/operator"' not in logged_in.get("/research", headers=HTML).text
    swedish = logged_in.get("/operator", headers={**HTML, "accept-language": "sv"})
    assert swedish.status_code == 403 and "Bara poddens operatör" in swedish.text

    form = _form(logged_in.get("/research", headers=HTML).text, csrf_of)
    for path in (f"/operator/studies/{draft}/open", f"/operator/studies/{draft}/close"):
        refused = logged_in.post(path, data=form, headers=HTML, follow_redirects=False)
        assert refused.status_code == 403
    made = logged_in.post(
        "/operator/studies",
        data={**form, "title": "Sneaky", "sponsor": "x", "duo": "HMB"},
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 403
    with pod.engine.connect() as conn:
        assert [s.title for s in studies.list_studies(conn)] == ["Walking in winter"]
    assert _status(pod, draft) == "draft"


def test_the_operator_lists_creates_opens_and_closes_studies(
    logged_in, pod, sponsor, csrf_of, database_url, account
):
    client_id, draft = sponsor
    assert "now the pod's operator" in _operator(pod, database_url)
    with pod.engine.connect() as conn:
        assert accounts.is_operator(conn, account)
    # The operator finds the view from their Research page, in both languages.
    assert 'href="/operator"' in logged_in.get("/research", headers=HTML).text
    swedish = logged_in.get("/research", headers={**HTML, "accept-language": "sv"})
    assert "Driv poddens studier (operatör)" in html.unescape(swedish.text)

    page = logged_in.get("/operator", headers=HTML)
    assert page.status_code == 200
    assert "Walking in winter" in page.text and "Draft" in page.text
    form = _form(page.text, csrf_of)

    opened = logged_in.post(
        f"/operator/studies/{draft}/open", data=form, headers=HTML, follow_redirects=False
    )
    assert opened.status_code == 303
    assert _status(pod, draft) == "open"
    # Opening it again is refused by the same rule as `study open`: a message, no change.
    again = logged_in.post(f"/operator/studies/{draft}/open", data=form, headers=HTML)
    assert again.status_code == 409
    assert "only a draft study can be opened" in html.unescape(again.text)

    fields = {
        **form,
        "title": "Sleep and steps",
        "sponsor": client_id,
        "duo": "HMB,NCU",
        "category": ["activity", "sleep"],
        "granularity": "raw",
        "data_from": "2025-01-01",
        "data_to": "2026-01-01",
        "min_cohort": "20",
        "epsilon": "1.5",
        "releases": "records",
        "summary_en": "",
        "summary_sv": "Sömn",
        "ethics_ref": "Dnr 2025-1",
        "end": "",
    }
    # Bad input: a message naming what was wrong, the form kept, nothing stored.
    for change, words in (
        ({"duo": "XYZ"}, "Unknown DUO code"),
        ({"data_to": "2024-01-01"}, "The data period is empty"),
        ({"min_cohort": "1"}, "at least 2 people"),
        ({"epsilon": "zero"}, "is not a number"),
        ({"data_from": "1 jan"}, "is not a date"),
        ({"category": ["identity"]}, "never gets who a person is"),
        ({"category": ["conditions"]}, "not records from healthcare (Conditions)"),
        ({"epsilon": "0.0001"}, "must be a number from 0.001 to 1000"),
    ):
        refused = logged_in.post("/operator/studies", data={**fields, **change}, headers=HTML)
        assert refused.status_code in (400, 409), refused.text
        text = html.unescape(refused.text)
        assert "The study was not created" in text and words in text
        assert 'value="Sleep and steps"' in refused.text
    # The same refusals in Swedish: the page's language, no English and no command-line hint.
    for change, words in (
        ({"duo": "XYZ"}, "Okänd DUO-kod 'XYZ'."),
        ({"data_to": "2024-01-01"}, "Dataperioden är tom"),
        ({"min_cohort": "1"}, "minst 2 personer"),
        ({"epsilon": "zero"}, "är inget tal"),
        ({"data_from": "1 jan"}, "Från: '1 jan' är inget datum"),
        ({"category": ["identity"]}, "aldrig veta vem en person är"),
        ({"category": ["conditions"]}, "inte journaluppgifter från vården (Diagnoser)"),
        ({"epsilon": "0.0001"}, "ett tal från 0.001 till 1000"),
    ):
        refused = logged_in.post(
            "/operator/studies",
            data={**fields, **change},
            headers={**HTML, "accept-language": "sv"},
        )
        text = html.unescape(refused.text)
        assert "Studien skapades inte" in text and words in text, text
        assert "--" not in text.split("Studien skapades inte", 1)[1].split("<", 1)[0]
    with pod.engine.connect() as conn:
        assert len(studies.list_studies(conn)) == 1

    created = logged_in.post("/operator/studies", data=fields, headers=HTML, follow_redirects=False)
    assert created.status_code == 303
    with pod.engine.connect() as conn:
        [_, made] = studies.list_studies(conn)
    assert (made.status, made.granularity, made.releases) == ("draft", "raw", "records")
    assert made.categories == ("activity", "sleep") and made.duo == ("HMB", "NCU")
    assert made.summary_en is None and made.summary_sv == "Sömn"

    closed = logged_in.post(
        f"/operator/studies/{draft}/close", data=form, headers=HTML, follow_redirects=False
    )
    assert closed.status_code == 303 and _status(pod, draft) == "closed"
    listing = logged_in.get("/operator?done=closed", headers={**HTML, "accept-language": "sv"})
    assert "Studien är stängd" in listing.text and "Stängd" in listing.text
    assert "Sleep and steps" in listing.text and "Utkast" in listing.text

    # The role taken away: the page is refused again.
    _operator(pod, database_url, off=True)
    assert logged_in.get("/operator", headers=HTML).status_code == 403
