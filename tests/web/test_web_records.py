"""The Records page: each record once with its value, units and statuses in words, filters that
keep their values, paging, and bad input answered on the page in its language."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from healthpod.ingest.run import import_path
from healthpod.store import rls, schema
from healthpod.web.pages.records import PAGE_SIZE, SKIPPED_TYPES

HTML = {"accept": "text/html"}
ROOT = Path(__file__).parents[2]
SYNTHEA = ROOT / "src/healthpod/demo_data/synthea-xavier-lueilwitz.json"
GLUCOSE = ROOT / "tests/data/fhir/r4-examples/Observation-f001.json"
IPS = ROOT / "tests/data/fhir/ips/Bundle-IPS-examples-Bundle-01.json"


def _text(page: str) -> str:
    main = page.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", main)))


def _records(page: str) -> list[str]:
    return [
        _text("<main>" + item + "</main>")
        for item in re.findall(r'<li class="record".*?</li>', page, flags=re.S)
    ]


def _get(client, url: str, lang: str = "en"):
    client.cookies.set("hp_lang", lang)
    return client.get(url, headers=HTML)


def _stored(pod, person_id: int) -> int:
    r = schema.resources
    with pod.engine.connect() as conn:
        rls.act_for(conn, person_id)  # the person's own rows, under row-level security
        return int(
            conn.scalar(
                select(func.count())
                .select_from(r)
                .where(r.c.person_id == person_id, r.c.resource_type.not_in(SKIPPED_TYPES))
            )
            or 0
        )


def test_every_record_is_listed_once_across_the_pages(logged_in, pod, account):
    import_path(pod, SYNTHEA)
    stored = _stored(pod, account)
    assert stored > PAGE_SIZE  # more than one page
    seen: list[str] = []
    page = 1
    while True:
        response = _get(logged_in, f"/records?page={page}")
        assert response.status_code == 200
        found = re.findall(r'<li class="record"', response.text)
        assert 0 < len(found) <= PAGE_SIZE
        seen += _records(response.text)
        if 'rel="next"' not in response.text:
            break
        page += 1
    assert len(seen) == stored
    assert f"Records found: {stored}, newest first." in _text(response.text)


def test_values_units_and_statuses_are_in_words(logged_in, pod):
    import_path(pod, SYNTHEA)
    text = " ".join(_records(_get(logged_in, "/records?page=1").text))
    text += " ".join(_records(_get(logged_in, "/records?page=2").text))
    assert re.search(r"Blood pressure \d{2,3}/\d{2,3} mmHg", text), text
    assert "{score}" not in text and "mm[Hg]" not in text and "points" in text
    assert "Former smoker" in text
    conditions = " ".join(_records(_get(logged_in, "/records?kind=conditions").text))
    assert "Sprain of wrist" in conditions
    assert "Resolved, Confirmed" in conditions and "Ended 9 Nov 2019" in conditions
    swedish = " ".join(_records(_get(logged_in, "/records?kind=conditions", "sv").text))
    assert "Läkt, Bekräftad" in swedish and "Slutade 9 nov. 2019" in swedish
    for raw in ("resolved", "confirmed", "conditions", "Resolved"):
        assert raw not in swedish


def test_a_lab_result_shows_value_unit_and_reference_range(logged_in, pod):
    import_path(pod, GLUCOSE)
    english = " ".join(_records(_get(logged_in, "/records").text))
    assert "Blood glucose 6.3 mmol/L" in english
    assert "Reference range 3.1\u20136.2 mmol/L" in english
    assert "above the reference range" in english
    swedish = " ".join(_records(_get(logged_in, "/records", "sv").text))
    assert "Blodsocker 6,3 mmol/L" in swedish
    assert "Referensintervall 3,1\u20136,2 mmol/L" in swedish
    assert "över referensintervallet" in swedish


def test_allergies_medications_and_conditions_of_a_patient_summary(logged_in, pod):
    import_path(pod, IPS)
    text = " ".join(_records(_get(logged_in, "/records").text))
    assert "Substance with penicillin structure (substance)" in text
    assert "High risk" in text and "Current, Confirmed" in text
    assert "Black Cohosh Extract herbal supplement" in text  # its Medication, by reference
    assert "Taken since Mar 2015" not in text and "Taken since 2015-03" in text
    assert "In remission, Confirmed" in text
    medications = _records(_get(logged_in, "/records?kind=medications").text)
    assert len(medications) == 2  # the statements; the Medication definitions are not records


def test_filters_narrow_the_list_and_keep_their_values(logged_in, pod):
    import_path(pod, SYNTHEA)
    response = _get(logged_in, "/records?kind=immunizations&from=2017-01-01&to=2017-12-31&q=hep")
    assert response.status_code == 200
    found = _records(response.text)
    assert found and all("Hep A" in r and "2017" in r for r in found)
    page = response.text
    assert '<option value="immunizations" selected>' in page
    assert 'name="from" type="date" value="2017-01-01"' in page
    assert 'name="to" type="date" value="2017-12-31"' in page
    assert 'name="q" type="search" value="hep"' in page
    nothing = _get(logged_in, "/records?q=no+such+record+anywhere")
    assert nothing.status_code == 200 and "No records match." in _text(nothing.text)


@pytest.mark.parametrize(
    ("query", "status", "english", "swedish"),
    [
        ("from=2019-13-01", 400, "“2019-13-01” is not a date", "”2019-13-01” är inte ett datum"),
        ("from=2020-01-02&to=2019-01-01", 400, "The “To” date is before", "Datumet i ”Till”"),
        ("kind=blood_pressure", 400, "There is no kind of record called", "ingen sorts"),
        ("page=x", 400, "“x” is not a page number", "”x” är inte ett sidnummer"),
        ("page=99&kind=conditions", 404, "There is no page 99", "Det finns ingen sida 99"),
    ],
)
def test_bad_input_is_a_message_on_the_page_with_the_form_kept(
    logged_in, pod, query, status, english, swedish
):
    import_path(pod, SYNTHEA)
    for lang, expected in (("en", english), ("sv", swedish)):
        response = _get(logged_in, f"/records?{query}", lang)
        assert response.status_code == status
        assert 'role="alert"' in response.text
        assert expected in _text(response.text), _text(response.text)[:600]
        assert 'action="/records"' in response.text  # the form is still there
        for key, value in (part.split("=") for part in query.split("&")):
            if key in ("from", "to"):
                assert f'name="{key}" type="date" value="{value}"' in response.text
    past_end = _get(logged_in, "/records?page=99&kind=conditions")
    assert 'href="/records?kind=conditions"' in past_end.text  # the last page (page 1)


def test_another_persons_records_are_not_on_my_page(logged_in, pod, account):
    import_path(pod, IPS, person="someone-else")
    page = _get(logged_in, "/records")
    assert "No records from healthcare yet" in page.text
    assert "penicillin" not in page.text
