"""The upload form speaks web: a format choice, a CSV profile (shipped or the person's own)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.store import schema

HTML = {"accept": "text/html"}
CSV = Path(__file__).parents[1] / "data" / "csv"


def _post(client, csrf_of, data, files):
    page = client.get("/import", headers=HTML)
    return client.post(
        "/import",
        data={"csrf_token": csrf_of(page.text), **data},
        files=files,
        headers=HTML,
        follow_redirects=False,
    )


def _finish(client, response):
    assert response.status_code == 303, response.text
    for _ in range(200):
        status = client.get(response.headers["location"], headers={**HTML, "hx-request": "true"})
        if 'data-finished="yes"' in status.text:
            return status.text
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def _samples(pod) -> int:
    with as_superuser(pod.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.quantity_samples)) or 0)


def test_the_form_offers_formats_and_the_shipped_profiles(logged_in):
    page = logged_in.get("/import", headers=HTML).text
    assert 'name="format"' in page and 'value="apple-health"' in page
    assert 'name="profile"' in page and 'value="withings-weight"' in page
    assert 'name="profile_file"' in page


def test_a_scale_csv_with_the_persons_own_profile_imports(logged_in, csrf_of, pod):
    response = _post(
        logged_in,
        csrf_of,
        {"format": "csv", "profile": "own"},
        [
            ("files", ("my-scale.csv", (CSV / "my-scale.csv").read_bytes(), "text/csv")),
            ("profile_file", ("my-scale.toml", (CSV / "my-scale.toml").read_bytes(), "text/plain")),
        ],
    )
    status = _finish(logged_in, response)
    assert 'data-status="completed"' in status
    assert _samples(pod) > 0


def test_a_profile_that_does_not_match_the_csv_stores_nothing(logged_in, csrf_of, pod):
    response = _post(
        logged_in,
        csrf_of,
        {"profile": "withings-weight"},
        [("files", ("my-scale.csv", (CSV / "my-scale.csv").read_bytes(), "text/csv"))],
    )
    status = _finish(logged_in, response)
    assert 'data-status="failed"' in status
    assert "nothing of it was stored" in status
    assert _samples(pod) == 0


def test_a_bad_own_profile_keeps_the_form_and_names_the_field(logged_in, csrf_of, pod):
    logged_in.cookies.set("hp_lang", "sv")
    response = _post(
        logged_in,
        csrf_of,
        {"format": "csv", "profile": "own"},
        [
            ("files", ("my-scale.csv", (CSV / "my-scale.csv").read_bytes(), "text/csv")),
            ("profile_file", ("my-scale.csv", (CSV / "my-scale.csv").read_bytes(), "text/csv")),
        ],
    )
    assert response.status_code == 400
    assert 'id="profile_file-error"' in response.text
    assert "TOML" in response.text
    assert '<option value="own" selected>' in response.text
    assert '<option value="csv" selected>' in response.text
    assert "Välj filerna igen" in response.text
    assert "--" not in response.text.split('id="profile_file-error"')[1][:300]
    assert _samples(pod) == 0


def test_a_profile_with_another_format_and_an_unknown_format_are_refused(logged_in, csrf_of):
    files = [("files", ("my-scale.csv", (CSV / "my-scale.csv").read_bytes(), "text/csv"))]
    mixed = _post(logged_in, csrf_of, {"format": "fit", "profile": "withings-weight"}, files)
    assert mixed.status_code == 400 and 'id="format-error"' in mixed.text
    unknown = _post(logged_in, csrf_of, {"format": "nonsense"}, files)
    assert unknown.status_code == 400 and 'id="format-error"' in unknown.text
    assert _post(logged_in, csrf_of, {"profile": "nope"}, files).status_code == 400


def test_an_unrecognised_file_says_to_choose_a_format_not_a_flag(logged_in, csrf_of):
    response = _post(
        logged_in, csrf_of, {}, [("files", ("notes.txt", b"just some text\n", "text/plain"))]
    )
    status = _finish(logged_in, response)
    assert 'data-status="failed"' in status
    assert "--format" not in status
    assert "Format" in status
