"""Upload results in Swedish: what was added named in words (no raw codes such as
blood_pressure), a refused file explained in Swedish with the importer's own words kept
under a marked English details element."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

from .test_web_pages import _upload

ROOT = Path(__file__).parents[2]


def _visible(page: str) -> str:
    page = re.sub(r'<(p|details)[^>]*lang="en"[^>]*>.*?</\1>', " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_added_items_are_named_in_swedish(logged_in, csrf_of):
    logged_in.cookies.set("hp_lang", "sv")
    synthea = (ROOT / "src/healthpod/demo_data/synthea-xavier-lueilwitz.json").read_bytes()
    status = _upload(logged_in, csrf_of, [("journal.json", synthea)])
    assert 'data-status="completed"' in status
    text = _visible(status)
    for word in ("Blodtryck", "Diagnoser", "Vaccinationer", "Vårdbesök", "Recept"):
        assert word in text, word
    for raw in ("blood_pressure", "Condition", "Immunization", "MedicationRequest", "_"):
        assert raw not in text, raw


def test_a_refused_file_is_explained_in_swedish(logged_in, csrf_of):
    logged_in.cookies.set("hp_lang", "sv")
    status = _upload(logged_in, csrf_of, [("anteckningar.txt", b"hello, not health data\n")])
    assert 'data-status="failed"' in status
    text = _visible(status)
    assert "Filen importerades inte; inget av den sparades." in text or "importerades inte" in text
    assert "healthpod kan inte läsa den här sortens fil." in text
    assert "--format" not in status  # the form's fields, not the command line
    assert 'lang="en"' in status and "anteckningar.txt" in status  # the importer's own words
    assert "cannot import" not in text


def test_english_pages_show_the_importers_message_as_it_is(logged_in, csrf_of):
    status = _upload(logged_in, csrf_of, [("anteckningar.txt", b"hello, not health data\n")])
    assert "healthpod cannot import this file" in _visible(status)
