"""Daily summaries written inside an import equal a recomputation, whatever the type order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.conftest import as_superuser
from tests.ingest.apple_builder import HEAD, TAIL, record, records

from healthpod.ingest.apple import export
from healthpod.ingest.run import import_file
from healthpod.insights import summaries
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.store.person_data import owner_writer


def daily_rows(pod: Pod) -> set[tuple[Any, ...]]:
    d = schema.daily_summaries
    with as_superuser(pod.engine) as conn:
        return {
            (r.type_id, str(r.day_on), r.sample_count, r.total, r.low, r.high, r.first_ms)
            for r in conn.execute(select(d))
        }


def recomputed(pod: Pod) -> set[tuple[Any, ...]]:
    with pod.engine.begin() as conn:
        summaries.refresh_person(owner_writer(conn, pod.person_id("me")))
    return daily_rows(pod)


def summarized_imports(pod: Pod) -> set[int]:
    si = schema.summarized_imports
    with as_superuser(pod.engine) as conn:
        return set(conn.scalars(select(si.c.import_id)))


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Many batches from a small file, so that types end and start between batches.
    monkeypatch.setattr(export, "RECORD_BATCH", 500)


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("order", ["by-type", "interleaved"])
def test_summaries_written_during_the_import_equal_a_recomputation(
    pod: Pod, tmp_path: Path, order: str
) -> None:
    numbers = range(6_000)
    if order == "by-type":  # as the Health app writes them
        numbers = sorted(numbers, key=lambda i: i % 3)  # type: ignore[assignment]
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + b"".join(record(i) for i in numbers) + TAIL)
    report = import_file(pod, path, person="me", parallel=False)
    assert report.total_added == 6_000
    assert report.import_id in summarized_imports(pod)  # no reader has to catch up
    written = daily_rows(pod)
    assert written
    assert written == recomputed(pod)


@pytest.mark.usefixtures("small_batches")
def test_a_newer_export_updates_the_summaries_of_the_days_it_adds(pod: Pod, tmp_path: Path) -> None:
    first, newer = tmp_path / "a.xml", tmp_path / "b.xml"
    first.write_bytes(HEAD + records(0, 3_000) + TAIL)
    newer.write_bytes(HEAD + records(0, 9_000) + TAIL)
    import_file(pod, first, person="me", parallel=False)
    report = import_file(pod, newer, person="me", parallel=False)
    assert report.total_added == 6_000
    assert daily_rows(pod) == recomputed(pod)


def heart_rate_with_a_decimal_comma(i: int) -> bytes:
    # The one-by-one reader takes these (not the batch conversion), so another writer
    # stores them; some exports do write decimal commas.
    return record(i * 3).replace(b'value="', b'value="7,').replace(b"2024-01-", b"2024-03-")


@pytest.mark.usefixtures("small_batches")
def test_samples_of_one_type_from_two_writers_are_all_summarized(pod: Pod, tmp_path: Path) -> None:
    # The single samples come first; the type's batches after them are summarized as
    # soon as they end, which must not pass for the whole type.
    singles = b"".join(heart_rate_with_a_decimal_comma(i) for i in range(30))
    by_type = sorted(range(6_000), key=lambda i: i % 3)
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + singles + b"".join(record(i) for i in by_type) + TAIL)
    report = import_file(pod, path, person="me", parallel=False)
    assert report.total_added == 6_030
    assert daily_rows(pod) == recomputed(pod)


# The import computes a type's daily rows from the samples it holds only while those are all
# the store has of the type; each case below breaks that on days the held samples share.


def test_samples_stored_by_an_earlier_import_on_the_same_days_count(
    pod: Pod, tmp_path: Path
) -> None:
    earlier, later = tmp_path / "earlier.xml", tmp_path / "later.xml"
    earlier.write_bytes(HEAD + b"".join(record(i) for i in range(0, 3_000, 2)) + TAIL)
    later.write_bytes(HEAD + b"".join(record(i) for i in range(1, 3_000, 2)) + TAIL)
    import_file(pod, earlier, person="me", parallel=False)
    report = import_file(pod, later, person="me", parallel=False)
    assert report.total_added == 1_500
    assert daily_rows(pod) == recomputed(pod)


def test_samples_another_writer_adds_after_the_batches_count(pod: Pod, tmp_path: Path) -> None:
    # Decimal commas: the one-by-one reader takes these after the type's batch was written.
    batch = b"".join(record(i * 3) for i in range(1_000))  # heart rate only
    singles = b"".join(
        heart_rate_with_a_decimal_comma(i).replace(b"2024-03-", b"2024-01-")
        for i in range(1_000, 1_030)
    )
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + batch + singles + TAIL)
    report = import_file(pod, path, person="me", parallel=False)
    assert report.total_added == 1_030
    assert daily_rows(pod) == recomputed(pod)


def test_a_record_twice_in_the_file_counts_once(pod: Pod, tmp_path: Path) -> None:
    twice = b"".join(record(i * 3) + record(i * 3) for i in range(1_000))
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + twice + TAIL)
    report = import_file(pod, path, person="me", parallel=False)
    assert report.total_added == 1_000
    assert daily_rows(pod) == recomputed(pod)


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("cap", [700, 1_000_000])
def test_a_type_too_large_to_hold_is_read_back(
    pod: Pod, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    from healthpod.store.imports import summarizing

    monkeypatch.setattr(summarizing, "MAX_HELD_SAMPLES", cap)
    held_types: list[str] = []
    refresh = summaries.refresh_days

    def watched(write, ranges, held=None):  # type: ignore[no-untyped-def]
        held_types.extend(held or {})
        return refresh(write, ranges, held)

    monkeypatch.setattr(summaries, "refresh_days", watched)
    path = tmp_path / "export.xml"
    path.write_bytes(HEAD + b"".join(record(i * 3) for i in range(2_000)) + TAIL)  # heart rate
    report = import_file(pod, path, person="me", parallel=False)
    assert report.total_added == 2_000
    assert held_types == ([] if cap < 2_000 else ["heart_rate"])
    assert daily_rows(pod) == recomputed(pod)
