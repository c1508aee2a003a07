"""A type's own source order: the phone counts first for steps while the watch does for distance."""

from __future__ import annotations

import zipfile

import pytest
from sqlalchemy import func, select
from tests.conftest import as_superuser

from healthpod.errors import InvalidRequest, NotFound
from healthpod.export import write_export
from healthpod.insights import sources, summaries
from healthpod.insights.stats import bucket_stats, explain_day
from healthpod.store import schema
from healthpod.store.erase import erase_person
from healthpod.store.person_data import for_owner, owner_writer
from insights.builder import Person

DAY = "2026-04-01"


def phone_and_watch(engine) -> Person:
    """Phone 10:00-11:00 and watch 10:30-11:30, overlapping, for steps, distance and energy."""
    me = Person(engine)
    me.source("Watch", priority=1)
    me.source("Phone", priority=2)
    for code, phone, watch in (
        ("steps", 600, 300),
        ("distance_walking_running", 0.6, 0.3),
        ("active_energy", 60, 30),
    ):
        me.quantity(code, f"{DAY}T10:00+02:00", f"{DAY}T11:00+02:00", phone, "Phone")
        me.quantity(code, f"{DAY}T10:30+02:00", f"{DAY}T11:30+02:00", watch, "Watch")
    me.save()
    return me


def totals(engine, me: Person) -> dict[str, float]:
    with engine.begin() as conn:
        return {
            code: pytest.approx(bucket_stats(owner_writer(conn, me.id), code).buckets[0].total)
            for code in ("steps", "distance_walking_running", "active_energy")
        }


def test_the_phone_wins_for_steps_while_the_watch_wins_for_distance(engine):
    me = phone_and_watch(engine)
    # the watch first everywhere: watch 300 + phone's 10:00-10:30 half (300)
    assert totals(engine, me) == {
        "steps": 600.0,
        "distance_walking_running": 0.6,
        "active_energy": 60.0,
    }
    with engine.begin() as conn:
        changed = sources.set_type_priority(owner_writer(conn, me.id), "steps", "Phone", 1)
        assert changed == [me.sources["Phone"], me.sources["Watch"]]
        summaries.refresh_type(owner_writer(conn, me.id), "steps")
        assert sources.ranked_source_ids(owner_writer(conn, me.id), "steps") == [
            me.sources["Phone"],
            me.sources["Watch"],
        ]
        assert sources.ranked_source_ids(owner_writer(conn, me.id), "distance_walking_running") == [
            me.sources["Watch"],
            me.sources["Phone"],
        ]
        assert sources.ranked_source_ids(owner_writer(conn, me.id)) == [
            me.sources["Watch"],
            me.sources["Phone"],
        ]
    # steps: phone 600 + the watch's 11:00-11:30 half (150); the rest keep the person-wide order
    assert totals(engine, me) == {
        "steps": 750.0,
        "distance_walking_running": 0.6,
        "active_energy": 60.0,
    }
    with engine.begin() as conn:
        steps = [(s.source, s.amount) for s in explain_day(owner_writer(conn, me.id), "steps", DAY)]
        distance = [
            s.source
            for s in explain_day(owner_writer(conn, me.id), "distance_walking_running", DAY)
        ]
        assert steps == [("Phone", pytest.approx(600.0)), ("Watch", pytest.approx(150.0))]
        assert distance == ["Phone", "Watch"]  # 10:00-10:30 the phone alone, then the watch
        listed = sources.list_sources(owner_writer(conn, me.id), "steps")
        assert [(s.name, s.rank, s.priority) for s in listed] == [("Phone", 1, 1), ("Watch", 2, 1)]


def test_the_stored_daily_rows_follow_a_type_order_and_its_reset(engine):
    me = phone_and_watch(engine)
    with engine.begin() as conn:
        summaries.refresh_person(owner_writer(conn, me.id))
        if sources.set_type_priority(owner_writer(conn, me.id), "steps", "Phone", 1):
            summaries.refresh_type(owner_writer(conn, me.id), "steps")
    with as_superuser(engine) as conn:
        d, st = schema.daily_summaries, schema.sample_types
        stored = dict(
            conn.execute(select(st.c.code, d.c.total).join(st, st.c.id == d.c.type_id)).all()
        )
    assert stored["steps"] == pytest.approx(750.0)
    assert stored["distance_walking_running"] == pytest.approx(0.6)
    with engine.begin() as conn:
        assert sources.clear_type_priority(owner_writer(conn, me.id), "steps")
        summaries.refresh_type(owner_writer(conn, me.id), "steps")
        assert not sources.clear_type_priority(owner_writer(conn, me.id), "steps")
    assert totals(engine, me)["steps"] == pytest.approx(600.0)


def test_a_later_person_wide_change_still_reaches_sources_without_a_type_place(engine):
    me = phone_and_watch(engine)
    third = me.source("Scale", priority=3)
    with engine.begin() as conn:
        sources.set_type_priority(
            owner_writer(conn, me.id), "steps", "Phone", 5
        )  # past the end: last of own
        sources.set_priority(owner_writer(conn, me.id), "Scale", 1)
        assert sources.ranked_source_ids(owner_writer(conn, me.id), "steps") == [
            me.sources["Phone"],
            third,
            me.sources["Watch"],
        ]


def test_bad_type_priorities_say_what_is_wrong(engine):
    me = phone_and_watch(engine)
    with engine.begin() as conn:
        with pytest.raises(NotFound, match="Unknown type 'stepz'"):
            sources.set_type_priority(owner_writer(conn, me.id), "stepz", "Phone", 1)
        with pytest.raises(NotFound, match="no source called 'Fitbit'"):
            sources.set_type_priority(owner_writer(conn, me.id), "steps", "Fitbit", 1)
        with pytest.raises(InvalidRequest):
            sources.set_type_priority(owner_writer(conn, me.id), "steps", "Phone", 0)
        with pytest.raises(NotFound):
            sources.set_type_order(owner_writer(conn, me.id), "steps", [10_000])


def test_export_includes_and_erase_removes_the_type_order(engine, tmp_path):
    me = phone_and_watch(engine)
    with engine.begin() as conn:
        sources.set_type_priority(owner_writer(conn, me.id), "steps", "Phone", 1)
    write_export(for_owner(engine, engine, me.id), tmp_path / "export.zip")
    with zipfile.ZipFile(tmp_path / "export.zip") as archive:
        names = [n for n in archive.namelist() if "source_type_priorities" in n]
        assert len(names) == 1
        assert len(archive.read(names[0]).decode().strip().splitlines()) == 2  # header + row
    with engine.begin() as conn:
        erase_person(conn, me.id)
    with as_superuser(engine) as conn:
        p = schema.source_type_priorities
        assert conn.scalar(select(func.count()).select_from(p)) == 0
