"""The pages in process: login, overview numbers equal to the engine's, a type page, imports."""

from __future__ import annotations

import re
import time
from pathlib import Path

from healthpod.errors import NotFound
from healthpod.insights import stats
from healthpod.store.person_data import owner_writer
from healthpod.web import localtime
from healthpod.web.i18n import NO_VALUE
from healthpod.web.pages.overview import bucket_value

HTML = {"accept": "text/html"}
DATA = Path(__file__).parent.parent / "data"


def _stat(html: str, code: str, which: str) -> str:
    tile = html.split(f'data-type="{code}"', 1)[1].split("</article>", 1)[0]
    match = re.search(rf'data-stat="{which}">([^<]*)<', tile)
    assert match, f"{code} has no {which} value"
    return match.group(1).strip()


def test_login_then_logout(logged_in, csrf_of):
    page = logged_in.get("/", headers=HTML)
    assert page.status_code == 200 and "Log out" in page.text
    logged_in.post("/logout", data={"csrf_token": csrf_of(page.text)}, headers=HTML)
    after = logged_in.get("/", headers=HTML, follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


def test_wrong_password_shows_the_error_next_to_the_form(client, account, csrf_of):
    page = client.get("/login", headers=HTML)
    response = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "username": "anna", "password": "nope-nope"},
        headers=HTML,
    )
    assert response.status_code == 403
    assert "Wrong username or password." in response.text
    assert 'aria-invalid="true"' in response.text


def test_login_goes_back_to_next_but_never_off_site(client, account, csrf_of):
    page = client.get("/login?next=/import", headers=HTML)
    ok = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "username": "anna",
            "password": "correct horse battery",
            "next": "https://evil.example/",
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/"


def test_overview_numbers_equal_the_statistics_engine(logged_in, pod, account, ten_days):
    html = logged_in.get("/", headers=HTML).text
    with pod.engine.begin() as conn:
        today = localtime.today(localtime.offset_min(owner_writer(conn, account)))
        steps = _today(conn, account, "steps", today)
        heart = _today(conn, account, "heart_rate", today)
    if steps is None:  # early in the day: no steps yet, the tile shows no value
        assert _stat(html, "steps", "today") == NO_VALUE
    else:
        assert _stat(html, "steps", "today") == f"{bucket_value(steps, 'sum'):,.0f} steps"
    if heart is None:
        assert _stat(html, "heart_rate", "today") == NO_VALUE
    else:
        assert _stat(html, "heart_rate", "today") == f"{bucket_value(heart, 'describe'):,.1f} bpm"
    assert "data-finding=" in html or "Nothing stands out" in html


def _today(conn, person_id: int, code: str, today):
    """Today's bucket of a type, or None before its first sample of the day."""
    try:
        return stats.bucket_stats(owner_writer(conn, person_id), code, "day", today, today).buckets[
            0
        ]
    except NotFound:
        return None


def test_type_page_has_chart_data_buckets_and_paged_samples(logged_in, ten_days):
    html = logged_in.get("/type/heart_rate?by=day", headers=HTML).text
    assert 'id="main-chart"' in html and "data-series=" in html
    assert "Page 1 of" in html and "Older" in html
    second = logged_in.get("/type/heart_rate?by=day&page=1", headers=HTML)
    assert second.status_code == 200 and "Newer" in second.text
    hourly = logged_in.get("/type/steps?by=hour", headers=HTML)
    assert hourly.status_code == 200


def test_bad_dates_and_unknown_types_are_pages_not_crashes(logged_in, ten_days):
    bad = logged_in.get("/type/steps?from=yesterday", headers=HTML)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    unknown = logged_in.get("/type/no_such_type", headers=HTML)
    assert unknown.status_code == 404 and "Traceback" not in unknown.text


def _upload(client, csrf_of, files):
    page = client.get("/import", headers=HTML)
    response = client.post(
        "/import",
        data={"csrf_token": csrf_of(page.text)},
        files=[("files", (name, content, "application/octet-stream")) for name, content in files],
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    job_url = response.headers["location"]
    for _ in range(100):
        status = client.get(job_url, headers={**HTML, "hx-request": "true"})
        if 'data-finished="yes"' in status.text:
            return status.text
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_upload_imports_in_the_background(logged_in, csrf_of):
    export = (
        (DATA / "apple" / "healthkit-to-sqlite-export.xml").read_bytes()
        if (DATA / "apple" / "healthkit-to-sqlite-export.xml").exists()
        else None
    )
    if export is None:
        export = (
            Path(__file__).parents[2] / "src/healthpod/demo_data/healthkit-to-sqlite-export.xml"
        ).read_bytes()
    status = _upload(logged_in, csrf_of, [("export.xml", export)])
    assert 'data-status="completed"' in status
    history = logged_in.get("/import", headers=HTML).text
    assert "export.xml" in history and "Completed" in history


def test_a_refused_file_shows_the_importers_message(logged_in, csrf_of, pod):
    status = _upload(logged_in, csrf_of, [("notes.xml", b"<HealthData><Record type=")])
    assert 'data-status="failed"' in status
    assert "nothing of it was stored" in status
    assert "notes.xml" in status


def test_import_without_a_file_says_so_next_to_the_field(logged_in, csrf_of):
    page = logged_in.get("/import", headers=HTML)
    response = logged_in.post(
        "/import",
        data={"csrf_token": csrf_of(page.text)},
        headers=HTML,
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert response.status_code == 400
    assert 'id="files-error"' in response.text


def test_type_page_says_what_each_source_counted(logged_in, pod, account, ten_days):
    html = logged_in.get("/type/steps?by=week", headers=HTML).text
    counted = dict(
        re.findall(
            r'data-source="([^"]+)"><td>\d+</td><td>[^<]*</td><td class="num" '
            r'data-counted="([^"]+)"',
            html,
        )
    )
    with pod.engine.begin() as conn:
        result = stats.bucket_stats(owner_writer(conn, account), "steps", "week")
    total = sum(b.total for b in result.buckets)
    assert counted, "no per-source column"
    assert abs(sum(float(v) for v in counted.values()) - total) < 1e-6 * max(total, 1)
