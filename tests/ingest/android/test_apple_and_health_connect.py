"""A person who moved from iPhone to Android: one steps history, no month counted twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from tests.conftest import as_superuser
from tests.ingest.android.hc_builder import HealthConnectBuilder
from tests.ingest.apple_builder import HEAD, TAIL

from healthpod.ingest.run import import_file
from healthpod.insights import sources, summaries
from healthpod.pod import Pod
from healthpod.store import schema
from healthpod.store.person_data import owner_writer

IPHONE = "Anna\u2019s iPhone"
OFFSET = timedelta(hours=1)  # both write +01:00


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


APPLE_DAYS = days(date(2024, 1, 1), date(2024, 3, 31))
ANDROID_DAYS = days(date(2024, 3, 1), date(2024, 5, 31))
APPLE_STEPS, ANDROID_STEPS = 1000.0, 3000.0


def morning(day: date) -> tuple[datetime, datetime]:
    """09:00 to 10:00 local time on `day`, as UTC instants."""
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) - OFFSET
    return start, start + timedelta(hours=1)


def apple_export(path: Path) -> Path:
    lines = []
    for day in APPLE_DAYS:
        start, end = (t + OFFSET for t in morning(day))
        s, e = (t.strftime("%Y-%m-%d %H:%M:%S +0100") for t in (start, end))
        lines.append(
            f' <Record type="HKQuantityTypeIdentifierStepCount" sourceName="{IPHONE}" '
            f'unit="count" creationDate="{e}" startDate="{s}" endDate="{e}" '
            f'value="{APPLE_STEPS:.0f}"/>\n'
        )
    path.write_bytes(HEAD + "".join(lines).encode() + TAIL)
    return path


def health_connect_export(path: Path) -> Path:
    b = HealthConnectBuilder(path)
    app = b.app("com.sec.android.app.shealth", "Samsung Health")
    rows = []
    for day in ANDROID_DAYS:
        start, end = morning(day)
        rows.append(
            (
                int(start.timestamp() * 1000),
                int(end.timestamp() * 1000),
                int(OFFSET.total_seconds()),
                {"count": int(ANDROID_STEPS)},
            )
        )
    b.intervals("steps_record_table", app, rows)
    return b.close()


def daily_steps(pod: Pod) -> dict[date, float]:
    d, t = schema.daily_summaries, schema.sample_types
    with as_superuser(pod.engine) as conn:
        rows = conn.execute(
            select(d.c.day_on, d.c.total).join(t, t.c.id == d.c.type_id).where(t.c.code == "steps")
        )
        return {day: float(total) for day, total in rows}


def put_first(pod: Pod, source: str) -> None:
    with pod.engine.begin() as conn:
        person = pod.person_id("me")
        sources.set_priority(owner_writer(conn, person), source, 1)
        summaries.refresh_person(owner_writer(conn, person))


def test_overlapping_months_count_the_first_source_alone(pod: Pod, tmp_path: Path) -> None:
    import_file(pod, apple_export(tmp_path / "export.xml"), person="me", parallel=False)
    import_file(pod, health_connect_export(tmp_path / "hc.db"), person="me")

    put_first(pod, IPHONE)
    steps = daily_steps(pod)
    assert set(steps) == set(APPLE_DAYS) | set(ANDROID_DAYS)
    for day, total in steps.items():
        if day in APPLE_DAYS:  # January to March: the iPhone alone, March included
            assert total == APPLE_STEPS, day
        else:  # April and May: only the Android phone counted
            assert total == ANDROID_STEPS, day
    overlap = set(APPLE_DAYS) & set(ANDROID_DAYS)
    assert len(overlap) == 31
    assert sum(steps.values()) == APPLE_STEPS * len(APPLE_DAYS) + ANDROID_STEPS * (
        len(ANDROID_DAYS) - len(overlap)
    )

    put_first(pod, "Samsung Health")
    steps = daily_steps(pod)
    assert {steps[day] for day in overlap} == {ANDROID_STEPS}
    assert steps[date(2024, 2, 1)] == APPLE_STEPS
