"""Units, Apple dates and the vocabulary table: conversions exact, every type documented."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthpod.ingest import units
from healthpod.ingest.apple import dates
from healthpod.ingest.apple.elements import record_type
from healthpod.vocabulary import SAMPLE_TYPES

DOCS = Path(__file__).parents[2] / "docs"


@pytest.mark.parametrize(
    ("value", "written", "canonical", "expected"),
    [
        (154.3, "lb", "kg", 69.989302691),
        (1.0, "mi", "km", 1.609344),
        (98.6, "degF", "Cel", 37.0),
        (212.0, "degF", "Cel", 100.0),
        (90.0779, "mg/dL", "mmol/L", 5.0),
        (6.1, "mmol<180.1558800000541>/L", "mmol/L", 6.1),
        (4.184, "kJ", "kcal", 1.0),
        (500.0, "Cal", "kcal", 500.0),
        (0.97, "{fraction}", "%", 97.0),
        (97.0, "%", "%", 97.0),
        (1.0, "count/s", "/min", 60.0),
        (22.5, "count", "kg/m2", 22.5),
        (10.0, "kPa", "mm[Hg]", 75.00615758456563),
        (1.5, "hr", "min", 90.0),
        (1.0, "fl_oz_us", "mL", 29.5735295625),
        (3.6, "km/hr", "m/s", 1.0),
    ],
)
def test_conversions(value, written, canonical, expected):
    assert units.convert(value, written, canonical) == pytest.approx(expected, rel=1e-6)


def test_units_of_different_things_do_not_convert():
    with pytest.raises(units.UnitMismatch):
        units.converter("kg", "km")
    with pytest.raises(units.UnitMismatch):
        units.converter("zorks", "kg")


def test_healthkit_percent_is_a_fraction_and_a_mismatched_unit_keeps_the_identifier():
    assert record_type("HKQuantityTypeIdentifierOxygenSaturation", "%").convert(0.95) == 95.0
    odd = record_type("HKQuantityTypeIdentifierBodyMass", "count")
    assert (odd.code, odd.unit, odd.known) == ("HKQuantityTypeIdentifierBodyMass", "count", False)


def test_every_type_has_a_unit_we_can_convert_to_and_is_documented():
    text = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    for t in SAMPLE_TYPES:
        assert f"`{t.code}`" in text
        for identifier in t.apple:
            assert f"`{identifier}`" in text
        if t.kind == "quantity":
            assert units.converter(t.unit, t.unit)(2.0) == 2.0


moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60)


@given(moments, offsets)
def test_apple_dates_agree_with_strptime_one_by_one_and_in_bulk(moment, offset_min):
    sign = "+" if offset_min >= 0 else "-"
    text = (
        moment.strftime("%Y-%m-%d %H:%M:%S ")
        + f"{sign}{abs(offset_min) // 60:02}{abs(offset_min) % 60:02}"
    )
    expected = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
    want = (int(expected.timestamp() * 1000), offset_min)
    assert dates.parse(text) == want
    ms, offs, ok = dates.parse_many([text, "2019-02-29 10:00:00 +0000"])
    assert ok.tolist() == [True, False]
    assert (int(ms[0]), int(offs[0])) == want
