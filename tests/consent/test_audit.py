"""The access log: append-only, hash-chained per person; verify names the first broken entry."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from sqlalchemy import delete, text, update
from tests.conftest import as_superuser

from healthpod.consent import audit
from healthpod.store import schema

NOW = 1_800_000_000_000


def fill(engine, person, n=5, actor=None):
    with engine.begin() as conn:
        for i in range(n):
            audit.record(
                conn, person, actor, "test", "ok", {"i": i}, now_ms=NOW + i, reason=f"r{i}"
            )


def check(engine, person):
    with engine.connect() as conn:
        return audit.verify(conn, person)


def test_an_intact_log_verifies(engine, people):
    alice, bob, *_ = people
    fill(engine, alice)
    fill(engine, bob, 3)
    assert check(engine, alice).ok and check(engine, alice).entries == 5
    assert check(engine, bob).entries == 3
    with engine.connect() as conn:
        assert [e.seq for e in audit.entries(conn, alice)] == [1, 2, 3, 4, 5]
        assert [e.seq for e in audit.entries(conn, alice, newest_first=True, limit=2)] == [5, 4]


def test_an_altered_row_is_named(engine, people):
    alice, bob, *_ = people
    fill(engine, alice)
    fill(engine, bob)
    with as_superuser(engine) as conn:
        conn.execute(
            update(schema.access_log)
            .where(schema.access_log.c.person_id == alice, schema.access_log.c.seq == 3)
            .values(reason="nothing to see here")
        )
    result = check(engine, alice)
    assert not result.ok and result.first_broken_seq == 3
    assert "entry 3" in result.summary() and "changed" in result.summary()
    assert check(engine, bob).ok


def test_an_altered_row_with_a_recomputed_hash_breaks_the_next_link(engine, people):
    # Even someone holding the key who recomputes one row's hash breaks the link after it.
    alice, *_ = people
    fill(engine, alice)
    with as_superuser(engine) as conn:
        [second] = [e for e in audit.entries(conn, alice) if e.seq == 2]
        fields = {k: getattr(second, k) for k in audit._HASHED} | {"actor_id": 99}
        forged = audit.entry_hash(audit._key(conn), second.prev_hash, fields)
        conn.execute(
            update(schema.access_log)
            .where(schema.access_log.c.id == second.id)
            .values(actor_id=99, hash=forged)
        )
    result = check(engine, alice)
    assert result.first_broken_seq == 3 and "does not follow" in result.problem


def _unkeyed(prev_hash: str, row) -> str:
    """What someone without the key can compute: the chain's hash with any other key."""
    fields = {k: row[k] for k in audit._HASHED}
    fields["details"] = (
        json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
    )
    return audit.entry_hash(b"a guess at the key, 32 bytes long", prev_hash, fields)


def test_a_rewritten_middle_is_named_without_the_key(engine, people):
    """Row 3 changed and every later hash recomputed, head included, by direct SQL."""
    alice, bob, *_ = people
    fill(engine, alice, 6)
    fill(engine, bob, 2)
    with as_superuser(engine) as conn:
        conn.execute(
            text(
                "UPDATE access_log SET reason = 'nothing to see' WHERE person_id = :p AND seq = 3"
            ),
            {"p": alice},
        )
        rows = (
            conn.execute(
                text("SELECT * FROM access_log WHERE person_id = :p ORDER BY seq"), {"p": alice}
            )
            .mappings()
            .all()
        )
        prev = rows[1]["hash"]
        for row in rows[2:]:
            digest = _unkeyed(prev, row)
            conn.execute(
                text("UPDATE access_log SET prev_hash = :prev, hash = :h WHERE id = :id"),
                {"prev": prev, "h": digest, "id": row["id"]},
            )
            prev = digest
        conn.execute(
            text("UPDATE access_log_heads SET hash = :h, mac = :m WHERE person_id = :p"),
            {"h": prev, "m": audit.head_mac(b"x" * 32, alice, 6, prev), "p": alice},
        )
    result = check(engine, alice)
    assert not result.ok and result.first_broken_seq == 3
    assert result.first_broken_id == rows[2]["id"]
    assert "entry 3" in result.problem and "changed" in result.problem
    assert check(engine, bob).ok


def test_a_cut_tail_with_a_rewritten_head_is_noticed(engine, people):
    """The last two entries deleted and the head set back to match, by direct SQL."""
    alice, bob, *_ = people
    fill(engine, alice, 5)
    fill(engine, bob, 2)
    with as_superuser(engine) as conn:
        conn.execute(text("DELETE FROM access_log WHERE person_id = :p AND seq > 3"), {"p": alice})
        third = conn.execute(
            text("SELECT hash FROM access_log WHERE person_id = :p AND seq = 3"), {"p": alice}
        ).scalar_one()
        conn.execute(
            text("UPDATE access_log_heads SET seq = 3, hash = :h, mac = :m WHERE person_id = :p"),
            {"h": third, "m": audit.head_mac(b"y" * 32, alice, 3, third), "p": alice},
        )
    result = check(engine, alice)
    assert not result.ok and result.first_broken_seq == 4
    assert "entries after 3" in result.problem and "cut" in result.problem
    assert check(engine, bob).ok


def test_a_cut_tail_keeping_the_old_head_mac_is_noticed(engine, people):
    # The head's MAC binds its sequence number: the current MAC does not fit an earlier head.
    alice, *_ = people
    fill(engine, alice, 4)
    with as_superuser(engine) as conn:
        conn.execute(text("DELETE FROM access_log WHERE person_id = :p AND seq = 4"), {"p": alice})
        conn.execute(
            text(
                "UPDATE access_log_heads SET seq = 3, hash = "
                "(SELECT hash FROM access_log WHERE person_id = :p AND seq = 3) "
                "WHERE person_id = :p"
            ),
            {"p": alice},
        )
    result = check(engine, alice)
    assert result.first_broken_seq == 4 and "cut" in result.problem


def test_another_key_does_not_verify(engine, people, settings):
    from healthpod.store.engine import make_engine

    alice, *_ = people
    fill(engine, alice, 2)
    other = make_engine(settings.effective_database_url)
    try:
        audit.use_key(other, b"another key, also 32 bytes long!!")
        with other.connect() as conn:
            result = audit.verify(conn, alice)
        assert result.first_broken_seq == 1 and "changed" in result.problem
    finally:
        other.dispose()


def test_without_its_key_the_log_is_neither_written_nor_checked(engine, people, settings):
    from healthpod.errors import ConfigError
    from healthpod.store.engine import make_engine

    alice, *_ = people
    other = make_engine(settings.effective_database_url)
    try:
        with other.begin() as conn, pytest.raises(ConfigError, match="key"):
            audit.record(conn, alice, None, "test", "ok", now_ms=NOW)
        with other.connect() as conn, pytest.raises(ConfigError, match="key"):
            audit.verify(conn, alice)
    finally:
        other.dispose()


def test_returned_ids_are_listed_or_digested():
    few = audit.Returned(["Observation/1", "Observation/2"])
    assert few.details() == {"count": 2, "ids": ["Observation/1", "Observation/2"]}
    ids = [f"Observation/{i}" for i in range(audit.IDS_LISTED + 1)]
    many = audit.Returned(ids).details()
    expected = hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest()
    assert many == {"count": len(ids), "ids_sha256": expected}
    # One at a time (as a stream sends them) or a page at once: the same entry.
    streamed = audit.Returned()
    for i in ids[:7]:
        streamed.add(i)
    streamed.extend(ids[7:])
    assert streamed.details() == many
    short = audit.Returned()
    short.extend(ids[:3])
    short.add(ids[3])
    assert short.details() == {"count": 4, "ids": ids[:4]}


def test_a_deleted_row_and_a_cut_tail_are_noticed(engine, people):
    alice, bob, *_ = people
    fill(engine, alice)
    fill(engine, bob)
    log = schema.access_log
    with as_superuser(engine) as conn:
        conn.execute(delete(log).where(log.c.person_id == alice, log.c.seq == 2))
        conn.execute(delete(log).where(log.c.person_id == bob, log.c.seq >= 4))
    assert "entry 2 is missing" in check(engine, alice).problem
    cut = check(engine, bob)
    assert not cut.ok and cut.first_broken_seq == 4 and "missing" in cut.problem


def test_details_round_trip_exactly(engine, people):
    alice, *_ = people
    details = {"query": "code=8867-4&date=ge2026", "n": 3, "ü": ["å", None, 1.5]}
    with engine.begin() as conn:
        audit.record(conn, alice, 4, "fhir.search", "allowed", details, now_ms=NOW)
    assert check(engine, alice).ok


def test_concurrent_writers_keep_one_chain(engine, new_person):
    person = new_person()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(15):
                with engine.begin() as conn:
                    audit.record(conn, person, worker, "test", "ok", {"i": i}, now_ms=NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = check(engine, person)
    assert result.ok and result.entries == 90


def test_the_log_is_not_reachable_through_a_generic_update(engine, people):
    # The chain is what protects the log; a direct SQL change is always detected.
    alice, *_ = people
    fill(engine, alice, 2)
    with as_superuser(engine) as conn:
        conn.execute(text("UPDATE access_log SET at_ms = at_ms + 1"))
    assert check(engine, alice).first_broken_seq == 1


def test_odd_details_are_stored_as_they_hash(engine, people):
    from datetime import UTC, datetime

    alice, *_ = people
    odd = {"window": (1, 2), "when": datetime(2027, 1, 1, tzinfo=UTC), "tags": {"x"}}
    with engine.begin() as conn:
        entry = audit.record(conn, alice, None, "e" * 80, "ok", odd, now_ms=NOW)
    assert entry.event == "e" * 50
    assert entry.details["window"] == [1, 2] and entry.details["when"].startswith("2027-01-01")
    assert check(engine, alice).ok
