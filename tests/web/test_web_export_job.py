"""Download everything as a job: progress, a link when ready, served once, to its owner only."""

from __future__ import annotations

import zipfile
from io import BytesIO

HTML = {"accept": "text/html"}


def test_the_export_job_shows_progress_then_a_link_and_is_served_once(
    logged_in, pod, ten_days, csrf_of, download_export
):
    page = logged_in.get("/data", headers=HTML)
    response = download_export(logged_in, csrf_of(page.text))
    assert response.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(BytesIO(response.content)).namelist()
    job = response.url.path.removesuffix("/download")
    again = logged_in.get(f"{job}/download", headers=HTML)
    assert again.status_code == 200
    assert "zip" not in again.headers["content-type"]
    assert 'data-status="downloaded"' in again.text
    assert not any((pod.settings.home / "exports").glob("*/*.zip"))


def test_another_persons_session_cannot_follow_or_download_the_job(
    logged_in, pod, ten_days, csrf_of, client
):
    page = logged_in.get("/data", headers=HTML)
    started = logged_in.post(
        "/data/export",
        data={"csrf_token": csrf_of(page.text)},
        headers=HTML,
        follow_redirects=False,
    )
    job = started.headers["location"]
    from healthpod import accounts
    from healthpod.pod import now_ms

    with pod.engine.begin() as conn:
        accounts.create_account(
            conn,
            "mallory",
            "another long password",
            person_id=pod.person_id("mallory"),
            now_ms=now_ms(),
        )
    logged_in.post(
        "/logout",
        data={"csrf_token": csrf_of(logged_in.get("/data", headers=HTML).text)},
        headers=HTML,
    )
    login = logged_in.get("/login", headers=HTML)
    logged_in.post(
        "/login",
        data={
            "csrf_token": csrf_of(login.text),
            "username": "mallory",
            "password": "another long password",
        },
        headers=HTML,
    )
    for path in (job, f"{job}/download"):
        response = logged_in.get(path, headers=HTML)
        assert response.status_code == 404, path
        assert "zip" not in response.headers["content-type"]


def test_an_unknown_job_says_to_start_a_new_export(logged_in):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/data/export/no-such-job", headers=HTML)
    assert page.status_code == 404
    assert "Ladda ner allt" in page.text or "Dina data" in page.text
