"""What the person decided in the pod they moved from, carried into this one by a healthpod
export: what they marked wrong (with their reasons), what they marked "only me" (types,
samples, records) and what they deleted (tombstones).

The export names rows by the old pod's ids; `ingest.pod_export` turns them into natural keys
(`items.RowKey`), and here each key is found again among this pod's rows. Tombstones are
stored as they come (they are natural keys already), once. Marks and restrictions wait until
every row of the import is written and its daily summaries computed (`apply`, called by
`ImportTransaction.complete`); then they are set with the old pod's times, as the person's own
acts, and the days a mark touches are summarized again. Setting one that is already set here
changes nothing, so importing the export twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select

from healthpod.store import marked_wrong, restrictions, schema
from healthpod.store.imports.items import (
    CarriedMark,
    CarriedRestriction,
    CarriedTombstone,
    RowKey,
    Target,
    Warning_,
)
from healthpod.store.imports.session import ImportSession

TOMBSTONE_COLUMNS = (
    "kind",
    "code",
    "start_ms",
    "end_ms",
    "source",
    "value",
    "text",
    "target",
    "deleted_ms",
)


def write_tombstones(session: ImportSession, items: Sequence[CarriedTombstone]) -> None:
    """Store the old pod's tombstones; one already here (every column the same) is not
    stored twice."""
    t = schema.tombstones
    have = {
        tuple(row)
        for row in session.conn.execute(
            select(*(t.c[name] for name in TOMBSTONE_COLUMNS)).where(
                t.c.person_id == session.person_id
            )
        )
    }
    rows = []
    for item in items:
        values = tuple(getattr(item, name) for name in TOMBSTONE_COLUMNS)
        if values in have:
            continue
        have.add(values)
        rows.append(
            {"person_id": session.person_id, **dict(zip(TOMBSTONE_COLUMNS, values, strict=True))}
        )
    if rows:
        session.conn.execute(schema.tombstones.insert(), rows)


def keep(session: ImportSession, items: Sequence[CarriedMark | CarriedRestriction]) -> None:
    """Keep marks and restrictions until the import's rows are all written (`apply`)."""
    session.carried.extend(items)


def apply(session: ImportSession) -> dict[str, tuple[int, int]]:
    """Set the kept marks and restrictions; returns, per type code, the UTC range of days
    whose summaries the marks change. A target not found here is a warning, not a failure."""
    conn, person_id = session.conn, session.person_id
    ranges: dict[str, tuple[int, int]] = {}
    for item in session.carried:
        target = _target(session, item.target)
        if target is None:
            session.tally.warnings.append(
                Warning_(
                    "csv/marked_wrong.csv"
                    if isinstance(item, CarriedMark)
                    else "csv/restrictions.csv",
                    f"{_describe(item.target)} is not in the export; its mark was not kept.",
                )
            )
            continue
        if isinstance(item, CarriedMark):
            change = marked_wrong.mark(
                conn, person_id, [target], item.reason, now_ms=item.created_ms
            )
            for code, (lo, hi) in change.ranges.items():
                low, high = ranges.get(code, (lo, hi))
                ranges[code] = (min(low, lo), max(high, hi))
        elif item.level == restrictions.TYPE:
            restrictions.add(conn, person_id, [target], [], now_ms=item.created_ms)
        else:
            restrictions.add(conn, person_id, [], [target], now_ms=item.created_ms)
    session.carried.clear()
    return ranges


def _target(session: ImportSession, target: Target) -> str | None:
    """The id this pod shows for `target` (q-12, bp-3, w-4, Condition/abc, a type's code)."""
    if isinstance(target, str):
        return target
    found = session.conn.scalar(_by_key(session, target))
    return None if found is None else f"{target.kind}-{int(found)}"


def _by_key(session: ImportSession, key: RowKey) -> Select[Any]:
    s = schema.sources
    source = select(s.c.id).where(s.c.person_id == session.person_id, s.c.name == key.source)
    same: list[Any]
    if key.kind in ("q", "c"):
        table = schema.quantity_samples if key.kind == "q" else schema.category_samples
        types = schema.sample_types
        value = table.c.value if key.kind == "q" else table.c.value_code
        same = [
            table.c.type_id == select(types.c.id).where(types.c.code == key.code).scalar_subquery(),
            value == key.value,
        ]
    elif key.kind == "bp":
        table = schema.correlations
        same = [table.c.type_code == key.code]
    else:
        table = schema.workouts
        same = [table.c.activity_type == key.code]
    return select(table.c.id).where(
        table.c.person_id == session.person_id,
        table.c.start_ms == key.start_ms,
        table.c.end_ms == key.end_ms,
        table.c.source_id == source.scalar_subquery(),
        *same,
    )


def _describe(target: Target) -> str:
    if isinstance(target, str):
        return target
    return f"the {target.code} {target.kind} starting at {target.start_ms} from {target.source!r}"
