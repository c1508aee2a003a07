"""Search pages encode samples straight to JSON: the bytes must be those of the dict path."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from healthpod.fhir import encoded, render
from healthpod.fhir.outcome import encode
from healthpod.store.observations import SampleRow
from healthpod.vocabulary import SAMPLE_TYPES

TYPE_CODES = [*sorted({t.code for t in SAMPLE_TYPES}), "not_a_known_type"]
MS = st.integers(min_value=-(10**12), max_value=4 * 10**12)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60)


@st.composite
def quantity_rows(draw: st.DrawFn) -> SampleRow:
    start = draw(MS)
    end = draw(st.one_of(st.just(start), st.integers(start, start + 10**9)))
    return SampleRow(
        kind="q",
        id=draw(st.integers(1, 2**62)),
        type_code=draw(st.sampled_from(TYPE_CODES)),
        start_ms=start,
        end_ms=end,
        start_offset_min=draw(OFFSETS),
        end_offset_min=draw(OFFSETS),
        updated_ms=draw(MS),
        value=draw(st.floats(allow_nan=False, allow_infinity=False)),
        unit=draw(st.sampled_from(["/min", "mm[Hg]", "kg", "%", "Cel", 'odd"unit\\ü'])),
        source_name=draw(st.one_of(st.none(), st.just(""), st.text(max_size=20))),
    )


@given(quantity_rows(), st.sampled_from(["1", "42"]))
def test_encoded_sample_is_the_dict_encoded(row: SampleRow, patient_id: str) -> None:
    fast = encoded.sample_observation(row, patient_id)
    assert fast.json == orjson.dumps(render.sample_observation(row, patient_id))
    assert (fast.resource_type, fast.id) == ("Observation", row.fhir_id)


def test_other_kinds_take_the_dict_path() -> None:
    row = SampleRow("c", 7, "sleep_analysis", 0, 60_000, 60, 60, 60_000, value_code="asleep")
    assert orjson.loads(encoded.sample_observation(row, "1").json) == render.sample_observation(
        row, "1"
    )


@given(st.lists(quantity_rows(), max_size=5))
def test_bundle_with_encoded_entries_reads_as_the_dict_bundle(rows: list[SampleRow]) -> None:
    base = 'https://pod.example/fhir"x'
    mixed = [encoded.sample_observation(r, "1") for r in rows]
    plain = [render.sample_observation(r, "1") for r in rows]
    clinical = {"resourceType": "Observation", "id": "big", "valueInteger": 2**70}
    for extra in ([], [clinical]):  # 2**70 is beyond orjson: the json.dumps fallback
        fast = render.searchset(
            base, "Observation", [*mixed, *extra], self_params=[], next_params=None, total=None
        )
        slow = render.searchset(
            base, "Observation", [*plain, *extra], self_params=[], next_params=None, total=None
        )
        fast.pop("timestamp")
        slow.pop("timestamp")
        assert json.loads(encode(fast)) == json.loads(json.dumps(slow))
