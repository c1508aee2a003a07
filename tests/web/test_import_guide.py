"""The import page says how to export from each phone, watch and app, in English and Swedish."""

from __future__ import annotations

from tests.web.conftest import HTML

SOURCES = ("Health Connect", "Samsung Health", "Google Fit", "Garmin Connect", "GPX or TCX")


def test_the_import_page_lists_how_to_export_from_each_source(logged_in):
    page = logged_in.get("/import", headers=HTML).text
    for source in SOURCES:
        assert source in page
    assert "Manage data, Backup and restore, Export data" in page


def test_the_guide_is_in_swedish_for_a_swedish_reader(logged_in):
    logged_in.cookies.set("hp_lang", "sv")
    page = logged_in.get("/import", headers=HTML).text
    assert "Så exporterar du från telefonen eller klockan" in page
    assert "Hantera data, Säkerhetskopiera och återställ, Exportera data" in page
    assert "Strava, Komoot och andra appar: GPX eller TCX" in page
