"""A type page's "Measurements as stored" follows the chosen dates; bad dates, unknown types and
pages past the end are messages in the page's language with the form as sent."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from healthpod.store import rls, schema
from healthpod.store.person_data import owner_writer
from healthpod.web import localtime

HTML = {"accept": "text/html"}


def _total(html: str) -> int:
    found = re.search(r'data-total-samples="(\d+)"', html)
    assert found, "no sample count on the page"
    return int(found.group(1))


def _stored_in(pod, person_id: int, code: str, start_ms: int, end_ms: int) -> int:
    q, t = schema.quantity_samples, schema.sample_types
    with pod.engine.connect() as conn:
        rls.act_for(conn, person_id)  # the person's own rows, under row-level security
        return int(
            conn.scalar(
                select(func.count())
                .select_from(q.join(t, t.c.id == q.c.type_id))
                .where(
                    q.c.person_id == person_id,
                    t.c.code == code,
                    q.c.start_ms >= start_ms,
                    q.c.start_ms < end_ms,
                )
            )
            or 0
        )


def test_measurements_as_stored_follow_the_chosen_dates(logged_in, pod, account, ten_days):
    whole = _total(logged_in.get("/type/heart_rate?by=day", headers=HTML).text)
    day = date.today() - timedelta(days=3)
    html = logged_in.get(f"/type/heart_rate?by=day&from={day}&to={day}", headers=HTML).text
    one_day = _total(html)
    assert 0 < one_day < whole
    # the page's day is the person's local day (the offset of their latest data)
    with pod.engine.connect() as conn:
        offset = localtime.offset_min(owner_writer(conn, account))
    zone = timezone(timedelta(minutes=offset))
    start = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)
    assert one_day == _stored_in(pod, account, "heart_rate", start, start + 86_400_000)
    starts = re.findall(r'<tr[^>]*data-id="q-\d+"><td>([^<]+)</td>', html)
    assert starts and all(str(day.day) in s for s in starts)
    far = logged_in.get("/type/heart_rate?by=day&from=2001-01-01&to=2001-01-31", headers=HTML)
    assert _total(far.text) == 0


def test_bad_dates_keep_the_form_and_say_so_in_swedish(logged_in, ten_days):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/type/steps?from=2026-02-30&to=2026-03-01", headers=HTML)
    assert page.status_code == 400
    assert "”2026-02-30” är inte ett datum i formen ÅÅÅÅ-MM-DD." in page.text
    assert 'value="2026-02-30"' in page.text and 'value="2026-03-01"' in page.text
    assert "Traceback" not in page.text and "data-series" not in page.text


def test_an_unknown_type_is_a_page_in_the_persons_language(logged_in, ten_days):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/type/blood_pressure_x", headers=HTML)
    assert page.status_code == 404
    assert "Det finns ingen typ som heter ”blood_pressure_x” i din pod." in page.text
    assert 'href="/all-data"' in page.text
    assert "healthpod stats" not in page.text


def test_a_page_past_the_end_says_which_is_the_last(logged_in, ten_days):
    page = logged_in.get("/type/steps?by=day&page=999", headers=HTML)
    assert page.status_code == 200
    assert "There is no page 1,000 of these measurements; the last one is page" in page.text
    assert "Go to the last page" in page.text


def test_a_period_without_data_says_so_in_words_and_links_to_the_data(logged_in, ten_days):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/type/steps?by=day&from=2001-01-01&to=2001-01-31", headers=HTML)
    assert page.status_code == 200
    assert "Det finns inga data om steg från 1 jan. 2001 till 31 jan. 2001." in page.text
    assert "Visa dess data, från" in page.text
    assert "steps data" not in page.text and "--from" not in page.text
