"""The consent screen's dates are the person's days, over real HTTP.

"From 2024-03-01" starts at midnight where the person is, "to 2024-03-31" includes that whole
day, and "access ends on" a day ends at the next local midnight. Where the person is: the UTC
offset the web app shows their dates in (their latest data's), which the form names.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest

from healthpod.consent import store as consent_store
from healthpod.insights import summaries
from healthpod.oauth.consent_form import local_midnight_ms
from healthpod.store.person_data import owner_writer
from healthpod.web.i18n import Formatter
from healthpod.web.localtime import offset_label
from smart_support import (
    add_actor,
    add_person,
    add_samples,
    as_form,
    authorize_params,
    code_from,
    http_tokens,
    live_server,
    login_with_form,
    pkce,
    read_form,
)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


# Heart rates recorded at UTC+01:00 (the helper's offset), on both sides of local midnight.
EDGES = {
    "feb-29 23:30 local": _ms("2024-02-29T22:30:00+00:00"),
    "mar-01 00:30 local": _ms("2024-02-29T23:30:00+00:00"),
    "mar-31 23:30 local": _ms("2024-03-31T22:30:00+00:00"),
    "apr-01 00:30 local": _ms("2024-03-31T23:30:00+00:00"),
}


@pytest.fixture
def world(pod):
    anna = add_person(pod.engine, "anna")
    add_person(pod.engine, "bob")  # no data yet: no offset known
    ids = add_samples(pod.engine, anna, "heart_rate", [(ms, 60.0) for ms in EDGES.values()])
    named = dict(zip(EDGES, ids, strict=True))
    with pod.engine.begin() as conn:
        summaries.catch_up(owner_writer(conn, anna))
    app = add_actor(pod.engine).actor
    with live_server(pod) as base:
        yield {"base": base, "anna": anna, "app": app, "pod": pod, "ids": named}


def _dates(**values):
    def change(fields):
        return [(k, v) for k, v in fields if k not in values] + list(values.items())

    return change


def _consent(world, person_id):
    with world["pod"].engine.connect() as conn:
        return consent_store.list_consents(conn, person_id)[0]


def _page(world, username) -> str:
    _verifier, challenge = pkce()
    params = authorize_params(
        world["app"].client_id, "patient/Observation.rs", challenge, aud=f"{world['base']}/fhir"
    )
    with httpx.Client(base_url=world["base"]) as browser:
        login_with_form(browser, username)
        page = browser.get("/oauth/authorize", params=params)
        assert page.status_code == 200
        return page.text


def test_the_form_names_the_persons_time_zone(world):
    assert "UTC+01:00" in _page(world, "anna")
    assert "UTC+00:00" in _page(world, "bob")


def test_from_to_and_end_are_the_persons_local_days(world):
    body = http_tokens(
        world["base"],
        world["app"].client_id,
        "anna",
        "launch/patient patient/Observation.rs",
        change=_dates(data_from="2024-03-01", data_to="2024-03-31", valid_until="2099-12-31"),
    )
    consent = _consent(world, world["anna"])
    assert consent.data_from_ms == _ms("2024-03-01T00:00:00+01:00")
    assert consent.data_to_ms == _ms("2024-04-01T00:00:00+01:00")  # the whole of March 31
    assert consent.valid_until_ms == _ms("2100-01-01T00:00:00+01:00")

    seen = httpx.get(
        f"{world['base']}/fhir/Observation",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    ).json()
    ids = {e["resource"]["id"] for e in seen.get("entry", [])}
    inside = {f"q-{world['ids'][k]}" for k in ("mar-01 00:30 local", "mar-31 23:30 local")}
    assert ids == inside


def test_the_sharing_page_shows_the_days_the_person_chose(world):
    http_tokens(
        world["base"],
        world["app"].client_id,
        "anna",
        "launch/patient patient/Observation.rs",
        change=_dates(data_from="2024-03-01", data_to="2024-03-31", valid_until="2099-12-31"),
    )
    with httpx.Client(base_url=world["base"]) as browser:
        login_with_form(browser, "anna")
        page = browser.get("/sharing", headers={"Accept": "text/html"}).text
    shown = Formatter("en", 60)
    dash = "\N{EN DASH}"
    assert f"{shown.date(date(2024, 3, 1))} {dash} {shown.date(date(2024, 3, 31))}" in page
    assert shown.date(date(2099, 12, 31)) in page


def test_a_window_that_ends_before_it_starts_is_refused_on_the_form(world):
    _verifier, challenge = pkce()
    params = authorize_params(
        world["app"].client_id, "patient/Observation.rs", challenge, aud=f"{world['base']}/fhir"
    )
    with httpx.Client(base_url=world["base"], follow_redirects=False) as browser:
        login_with_form(browser, "anna")
        form = read_form(browser.get("/oauth/authorize", params=params).text)
        fields = _dates(data_from="2024-03-02", data_to="2024-03-01")(list(form.fields))
        answer = browser.post(form.action, data=as_form([*fields, ("decision", "allow")]))
    assert answer.status_code == 400
    assert "ends before it starts" in answer.text and "UTC+01:00" in answer.text
    with world["pod"].engine.connect() as conn:
        assert consent_store.list_consents(conn, world["anna"]) == []
    with pytest.raises(AssertionError):
        code_from(answer)


@pytest.mark.parametrize(
    ("offset", "label", "utc"),
    [
        (60, "UTC+01:00", "2024-02-29T23:00:00"),
        (-300, "UTC-05:00", "2024-03-01T05:00:00"),
        (330, "UTC+05:30", "2024-02-29T18:30:00"),
        (0, "UTC+00:00", "2024-03-01T00:00:00"),
    ],
)
def test_local_midnight_at_any_offset(offset, label, utc):
    assert offset_label(offset) == label
    expected = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    zone = timezone(timedelta(minutes=offset))
    assert local_midnight_ms(date(2024, 3, 1), zone) == int(expected.timestamp() * 1000)


def test_a_time_zone_the_person_set_counts_with_its_summer_time(world):
    """With `healthpod settings set timezone Europe/Stockholm`, a July day starts at +02:00
    even when the latest data was recorded at +01:00, and the form names the zone."""
    from zoneinfo import ZoneInfo

    from healthpod.store import person_settings

    with world["pod"].engine.begin() as conn:
        person_settings.set_time_zone(conn, world["anna"], "Europe/Stockholm")
    assert "Europe/Stockholm" in _page(world, "anna")
    http_tokens(
        world["base"],
        world["app"].client_id,
        "anna",
        "launch/patient patient/Observation.rs",
        change=_dates(data_from="2024-07-01", data_to="2024-07-31", valid_until="2099-01-31"),
    )
    consent = _consent(world, world["anna"])
    assert consent.data_from_ms == _ms("2024-07-01T00:00:00+02:00")
    assert consent.data_to_ms == _ms("2024-08-01T00:00:00+02:00")
    assert consent.valid_until_ms == _ms("2099-02-01T00:00:00+01:00")  # winter then
    with httpx.Client(base_url=world["base"]) as browser:
        login_with_form(browser, "anna")
        page = browser.get("/sharing", headers={"Accept": "text/html"}).text
    shown = Formatter("en", 60, ZoneInfo("Europe/Stockholm"))
    dash = "\N{EN DASH}"
    assert f"{shown.date(date(2024, 7, 1))} {dash} {shown.date(date(2024, 7, 31))}" in page
    assert shown.date(date(2099, 1, 31)) in page
