"""A batch of log entries is hashed over the very text `entry_hash` hashes one entry over:
the chain a cohort's release writes verifies like any other (`audit.verify`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from healthpod.consent import audit

KEY = b"k" * 32
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_fields = st.fixed_dictionaries(
    {
        "person_id": st.integers(1, 2**40),
        "seq": st.integers(1, 2**40),
        "at_ms": st.integers(0, 2**45),
        "done_by": st.sampled_from(["person", "actor", "recipient"]),
        "actor_id": st.none() | st.integers(1, 2**31),
        "via": st.none() | st.text(max_size=20),
        "event": st.text(max_size=20),
        "outcome": st.sampled_from(["allowed", "denied", "ok", "failed"]),
        # The same value in other types (1, 1.0, True) must not be taken for another's text.
        "reason": st.text() | st.just("1"),
        "consent_id": st.none() | st.integers(1, 2**31) | st.just(True) | st.just(1.0),
        "refers_to": st.none() | st.integers(1, 2**40),
        "details": st.dictionaries(st.text(max_size=8), _json, max_size=4),
    }
)


@given(st.lists(_fields, min_size=1, max_size=6), st.text(max_size=64))
def test_a_batch_hashes_each_entry_as_entry_hash_does(
    entries: list[dict[str, Any]], prev_hash: str
) -> None:
    batch = audit._CanonicalBatch()
    shared = entries[0]["details"]
    for fields in [*entries, *({**e, "details": shared} for e in entries)]:
        assert batch.entry_hash(KEY, prev_hash, fields) == audit.entry_hash(KEY, prev_hash, fields)
