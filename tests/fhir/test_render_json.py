"""Rendering details the hot search path relies on: instants by hand, orjson with a fallback."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from healthpod.fhir import render
from healthpod.fhir.outcome import encode

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
