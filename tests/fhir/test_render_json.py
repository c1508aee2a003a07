"""Rendering details the hot search path relies on: instants by hand, orjson with a fallback."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from healthpod.fhir import render
from healthpod.fhir.outcome import encode
from healthpod.store.observations import SampleRow

MS = st.integers(min_value=-(10**12), max_value=4 * 10**12)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60)


@given(MS, OFFSETS)
def test_instant_is_the_isoformat_of_the_local_time(ms: int, offset_min: int) -> None:
    local = datetime.fromtimestamp(ms / 1000, timezone(timedelta(minutes=offset_min)))
    local = local.replace(microsecond=(ms % 1000) * 1000)
    expected = local.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    assert render.instant(ms, offset_min) == expected.replace("+00:00", "Z")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON | st.just({"valueInteger": 2**70}))
def test_encode_reads_back_as_json_dumps_does(value: object) -> None:
    # Integers beyond 64 bits (a stored resource may hold one) take the json.dumps path.
    assert json.loads(encode(value)) == json.loads(json.dumps(value))


TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
QUANTITY_ROWS = st.builds(
    SampleRow,
    kind=st.just("q"),
    id=st.integers(min_value=1, max_value=2**62),
    type_code=st.sampled_from(
        ["heart_rate", "step_count", "body_mass", "HKQuantityTypeIdentifierX"]
    )
    | TEXT,
    start_ms=MS,
    end_ms=MS,
    start_offset_min=OFFSETS,
    end_offset_min=OFFSETS,
    updated_ms=MS,
    value=st.floats(allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(["/min", "count", "kg", "mm[Hg]", "%"]) | TEXT,
    source_name=st.none() | TEXT | st.just('Anna\u2019s Apple\u00a0Watch "2"'),
)


@given(QUANTITY_ROWS, st.sampled_from(["1", "42"]), st.booleans())
def test_a_quantity_sample_as_text_is_the_bytes_of_its_dict(
    row: SampleRow, patient_id: str, instant_sample: bool
) -> None:
    if instant_sample:
        row = row._replace(end_ms=row.start_ms, end_offset_min=row.start_offset_min)
    rendered = render.sample_resource(row, patient_id)
    assert isinstance(rendered, render.Rendered)
    assert rendered.json == orjson.dumps(render.sample_observation(row, patient_id))


@settings(deadline=None)  # the first example loads numpy
@given(st.lists(st.tuples(QUANTITY_ROWS, st.none() | MS, st.booleans()), max_size=6))
def test_the_exports_quantity_lines_are_the_bytes_of_each_sample(
    samples: list[tuple[SampleRow, int | None, bool]],
) -> None:
    """The export renders a page of the store's tuples (`quantity_pages`) at once: each line
    is the bytes of that sample's Observation."""
    rows, stored = [], []
    for row, created_ms, instant_sample in samples:
        if instant_sample:
            row = row._replace(end_ms=row.start_ms, end_offset_min=row.start_offset_min)
        row = row._replace(updated_ms=row.end_ms if created_ms is None else created_ms)
        rows.append(row)
        times = (row.start_ms, row.end_ms, row.start_offset_min, row.end_offset_min)
        stored.append((row.id, 7, *times, created_ms, row.value, row.unit, row.source_name))
    lines = render.quantity_lines("heart_rate", stored, "42")
    expected = [orjson.dumps(render.sample_observation(r._replace(type_code="heart_rate"), "42"))
                for r in rows]  # fmt: skip
    assert lines == expected


@given(st.lists(QUANTITY_ROWS, max_size=3), st.booleans())
def test_a_page_with_text_resources_encodes_as_the_page_of_dicts(
    rows: list[SampleRow], with_huge_integer: bool
) -> None:
    stored = {"resourceType": "Observation", "id": "r1", "valueInteger": 2**70}
    extra = [stored] if with_huge_integer else []  # the json.dumps path

    def page(resources: list) -> bytes:
        bundle = render.searchset(
            "https://pod.example/fhir", "Observation", resources + extra,
            self_params=[], next_params=None, total=None,
        )  # fmt: skip
        bundle["timestamp"] = "2026-01-01T00:00:00Z"
        return encode(bundle)

    as_text = page([render.sample_resource(row, "7") for row in rows])
    as_dicts = page([render.sample_observation(row, "7") for row in rows])
    assert json.loads(as_text) == json.loads(as_dicts)
    if not with_huge_integer:
        assert as_text == as_dicts
