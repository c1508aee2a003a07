"""The Research page: open studies in plain words, join, leave, opt out (en and sv)."""

from __future__ import annotations

from datetime import date

import pytest

from healthpod.consent import actors
from healthpod.consent import store as consent_store
from healthpod.pod import now_ms
from healthpod.research import studies

HTML = {"accept": "text/html"}


def _study(conn, client_id, title, *, open_it=True):
    made = studies.create(
        conn,
        studies.StudyPlan(
            title=title,
            sponsor=client_id,
            duo="HMB,NCU",
            categories="activity",
            granularity="daily",
            data_from=date(2025, 1, 1),
            data_to=date(2026, 1, 1),
            min_cohort=50,
            epsilon=2,
            summary_en="How far people walk.",
            summary_sv="Hur långt folk går.",
        ),
        now_ms=now_ms(),
    )
    if open_it:
        studies.open_study(conn, made.id, now_ms=now_ms())
    return made.id


@pytest.fixture
def open_study(pod, account):
    with pod.engine.begin() as conn:
        sponsor = actors.register(
            conn,
            name="Uppsala Steps",
            kind="research",
            purpose="HRESCH",
            redirect_uris=["https://r.example/cb"],
            public=False,
            now_ms=now_ms(),
        )
        opened = _study(conn, sponsor.actor.client_id, "Walking in winter")
        _study(conn, sponsor.actor.client_id, "Secret draft", open_it=False)
    return opened


def _post(client, csrf_of, path):
    page = client.get("/research", headers=HTML)
    return client.post(
        path, data={"csrf_token": csrf_of(page.text)}, headers=HTML, follow_redirects=False
    )


def test_join_leave_and_opt_out_on_the_research_page(logged_in, csrf_of, open_study, pod, account):
    page = logged_in.get("/research", headers=HTML)
    assert page.status_code == 200
    assert "Walking in winter" in page.text and "How far people walk." in page.text
    assert "health, medical or biomedical research" in page.text
    assert "your birth date and sex stay in your pod" in page.text  # answers per group
    assert "Secret draft" not in page.text  # a draft is no one's to join

    joined = _post(logged_in, csrf_of, f"/research/{open_study}/join")
    assert joined.status_code == 303
    page = logged_in.get(joined.headers["location"], headers=HTML)
    assert "You are in this study" in page.text and "Leave this study" in page.text
    with pod.engine.connect() as conn:
        (mine,) = studies.participations(conn, account)
        consent = consent_store.get_consent(conn, account, mine.consent_id)
    assert consent.purpose == "HRESCH" and consent.revoked_ms is None
    assert f"/consents/{mine.consent_id}" in page.text

    left = _post(logged_in, csrf_of, f"/research/{open_study}/leave")
    page = logged_in.get(left.headers["location"], headers=HTML)
    assert "cannot be called back" in page.text
    with pod.engine.connect() as conn:
        assert consent_store.get_consent(conn, account, mine.consent_id).revoked_ms is not None

    # Leaving twice changes nothing and says so, without an error page.
    again = _post(logged_in, csrf_of, f"/research/{open_study}/leave")
    assert again.status_code == 409 and "not in this study" in again.text

    _post(logged_in, csrf_of, "/research/opt-out")
    page = logged_in.get("/research", headers=HTML)
    assert "You have opted out of all research." in page.text
    assert "Join this study" not in page.text
    refused = _post(logged_in, csrf_of, f"/research/{open_study}/join")
    assert refused.status_code == 409
    with pod.engine.connect() as conn:
        assert len(studies.participations(conn, account)) == 1  # nothing new joined


def test_the_page_in_swedish_and_a_closed_study_cannot_be_joined(
    logged_in, csrf_of, open_study, pod, account
):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/research", headers=HTML)
    assert "Forskning" in page.text and "Hur långt folk går." in page.text
    assert "Välj bort all forskning" in page.text
    assert "per tioårig åldersgrupp eller per kön" in page.text
    with pod.engine.begin() as conn:
        studies.close_study(conn, open_study, now_ms=now_ms())
    refused = _post(logged_in, csrf_of, f"/research/{open_study}/join")
    assert refused.status_code == 409
    with pod.engine.connect() as conn:
        assert studies.participations(conn, account) == []


def test_no_one_signed_out_sees_or_joins(client, open_study):
    page = client.get("/research", headers=HTML, follow_redirects=False)
    assert page.status_code in (303, 401) and "Walking in winter" not in page.text


def test_a_study_that_gets_records_says_so_in_both_languages(logged_in, open_study, pod):
    with pod.engine.begin() as conn:
        sponsor = studies.get(conn, open_study).actor_id
        client_id = actors.get_actor(conn, sponsor).client_id
        made = studies.create(
            conn,
            studies.StudyPlan(
                title="Steps, record by record",
                sponsor=client_id,
                duo="HMB",
                categories="activity",
                granularity="daily",
                data_from=date(2025, 1, 1),
                data_to=date(2026, 1, 1),
                min_cohort=50,
                epsilon=2,
                releases="records",
            ),
            now_ms=now_ms(),
        )
        studies.open_study(conn, made.id, now_ms=now_ms())
    page = logged_in.get("/research", headers=HTML).text
    records = page.split(f'data-study="{made.id}"')[1]
    answers = page.split(f'data-study="{open_study}"')[1].split("data-study=")[0]
    assert "your records of this data themselves, under a code name" in records
    assert "code name" not in answers and "Only answers about at least 50 people" in answers
    logged_in.cookies.set("hp_lang", "sv")
    swedish = logged_in.get("/research", headers=HTML).text
    assert "under ett kodnamn som bara används i den här studien" in swedish


@pytest.mark.parametrize(
    ("lang", "row", "log"),
    [
        ("en", "Answers grouped by", "Its answers may be grouped by your age band or your sex"),
        ("sv", "Svar grupperade efter", "Dess svar kan grupperas efter din åldersgrupp"),
    ],
)
def test_the_join_consent_names_the_grouping_on_every_page_that_shows_it(
    logged_in, csrf_of, open_study, pod, account, lang, row, log
):
    """The Sharing page, the consent's own page, its receipt and the access log say that the
    study's answers may be grouped by age band or sex; a consent of no study says nothing."""
    with pod.engine.begin() as conn:
        coach = actors.register(
            conn,
            name="Coach Kim",
            kind="coach",
            purpose="CAREMGT",
            redirect_uris=["https://c.example/cb"],
            public=False,
            now_ms=now_ms(),
        )
        other = consent_store.grant(
            conn,
            account,
            coach.actor.id,
            consent_store.Scope(frozenset({"activity"})),
            valid_until_ms=None,
            now_ms=now_ms(),
        )
    assert _post(logged_in, csrf_of, f"/research/{open_study}/join").status_code == 303
    with pod.engine.connect() as conn:
        (mine,) = studies.participations(conn, account)
    logged_in.cookies.set("hp_lang", lang)

    sharing = logged_in.get("/sharing", headers=HTML).text
    assert sharing.count(row) == 1  # the study's consent, not the coach's
    assert 'data-grouping="age-band sex"' in sharing
    page = logged_in.get(f"/consents/{mine.consent_id}", headers=HTML).text
    assert row in page
    assert row not in logged_in.get(f"/consents/{other.id}", headers=HTML).text

    receipts = logged_in.get(f"/sharing/{mine.consent_id}/receipt").json()
    assert receipts[-1]["consentRecord"]["grouping"]["by"] == ["age-band", "sex"]
    assert receipts[-1]["consentRecord"]["dataCategories"] == ["activity"]
    assert (
        "grouping" not in logged_in.get(f"/sharing/{other.id}/receipt").json()[-1]["consentRecord"]
    )
    fhir = logged_in.get(f"/api/consents/{mine.consent_id}/fhir").json()
    assert [c["coding"][0]["code"] for c in fhir["provision"]["code"]] == ["activity"]
    assert "age band" in fhir["text"]["div"]

    access_log = logged_in.get("/access-log", headers=HTML).text
    assert log in access_log
