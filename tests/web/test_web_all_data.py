"""All of my data: every type listed, workouts with their route, blood pressure in one chart."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.ingest.run import import_path
from healthpod.store import schema

HTML = {"accept": "text/html"}
ROUTES = Path(__file__).parents[1] / "data" / "routes"


def test_every_stored_type_is_listed_with_its_count_and_a_link(logged_in, pod, ten_days):
    page = logged_in.get("/all-data", headers=HTML)
    assert page.status_code == 200
    with as_superuser(pod.engine) as conn:
        counts = dict(
            conn.execute(
                select(schema.sample_types.c.code, func.count())
                .join(schema.quantity_samples)
                .group_by(schema.sample_types.c.code)
            ).all()
        )
    assert counts
    for code, n in counts.items():
        row = re.search(rf'<tr data-type="{code}">(.*?)</tr>', page.text, re.S)
        assert row, code
        href = "/blood-pressure" if code.startswith("blood_pressure") else f"/type/{code}"
        assert f'href="{href}"' in row.group(1)
        assert f"{n:,}" in row.group(1) or str(n) in row.group(1)


def test_workouts_list_and_a_route_drawn_without_a_map(logged_in, pod, account):
    import_path(pod, ROUTES / "strava-ride.gpx")
    listing = logged_in.get("/workouts", headers=HTML)
    assert listing.status_code == 200
    ids = re.findall(r'data-workout="(\d+)"', listing.text)
    assert ids
    detail = logged_in.get(f"/workouts/{ids[0]}", headers=HTML)
    assert detail.status_code == 200
    assert "<polyline" in detail.text
    assert "tile" not in detail.text.lower()  # no map tiles unless the person asks for them
    assert "km" in detail.text


def test_a_page_past_the_end_says_which_pages_exist(logged_in, ten_days):
    page = logged_in.get("/workouts?page=999", headers=HTML)
    assert page.status_code == 404
    assert "There is no page 999" in page.text
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/workouts?page=999", headers=HTML)
    assert "Det finns ingen sida 999" in page.text
    assert logged_in.get("/workouts?page=x", headers=HTML).status_code == 400


def test_another_persons_workout_is_not_found(logged_in, pod, account):
    other = pod.person_id("someone-else")
    import_path(pod, ROUTES / "strava-ride.gpx", person="someone-else")
    with as_superuser(pod.engine) as conn:
        theirs = conn.scalar(
            select(schema.workouts.c.id).where(schema.workouts.c.person_id == other)
        )
    assert theirs is not None
    page = logged_in.get(f"/workouts/{theirs}", headers=HTML)
    assert page.status_code == 404
    assert "polyline" not in page.text
    assert logged_in.get("/workouts/not-a-number", headers=HTML).status_code == 404
    assert f'data-workout="{theirs}"' not in logged_in.get("/workouts", headers=HTML).text


def test_blood_pressure_is_one_chart_with_both_values(logged_in, ten_days):
    page = logged_in.get("/blood-pressure", headers=HTML)
    assert page.status_code == 200
    assert 'id="bp-chart"' in page.text
    assert "Systolic" in page.text and "Diastolic" in page.text
    assert "mmHg" in page.text


def test_a_wrong_date_keeps_the_form_and_says_what_to_do(logged_in, ten_days):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/blood-pressure?from=2026-13-45&to=2026-01-01", headers=HTML)
    assert page.status_code == 400
    assert 'value="2026-13-45"' in page.text
    assert "är inget datum" in page.text
    backwards = logged_in.get("/blood-pressure?from=2026-02-01&to=2026-01-01", headers=HTML)
    assert backwards.status_code == 400
    assert "före" in backwards.text


def test_a_type_page_with_backwards_dates_names_the_fields_not_flags(logged_in, ten_days):
    page = logged_in.get("/type/steps?from=2026-02-01&to=2026-01-01", headers=HTML)
    assert page.status_code == 400
    assert "“To” date is before the “From” date" in page.text
    assert "--from" not in page.text
