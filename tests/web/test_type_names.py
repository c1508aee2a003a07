"""Every type the vocabulary knows, and everything an import counts, has a name in Swedish."""

from __future__ import annotations

import re

from healthpod.vocabulary import SAMPLE_TYPES
from healthpod.web import i18n, labels


def test_every_vocabulary_type_has_a_swedish_name():
    swedish = i18n.translations("sv")
    untranslated = []
    for sample_type in SAMPLE_TYPES:
        msgid = labels.type_label(sample_type.code)
        assert msgid != sample_type.code, sample_type.code
        catalogue = swedish._catalog  # type: ignore[attr-defined]
        if not catalogue.get(msgid):
            untranslated.append(msgid)
    assert untranslated == []


def test_no_count_of_an_import_is_shown_as_a_raw_code():
    for code in ("blood_pressure", "workout", "workout_route", "MedicationRequest", "odd_thing"):
        shown = labels.type_label(code)
        assert not re.search(r"[a-z]_[a-z]|[a-z][A-Z]", shown), shown
