"""What the person marked wrong: rows kept in the pod but left out of its data everywhere.

A watch that counted steps on a car ride, a child on the scale: the person marks the sample
(or a workout, or a record from healthcare) wrong, with a reason if they like. The row stays
as it was imported, and `scope_sql.not_marked_wrong` leaves it out of every read under a
scope (every door, the person's own included) and of the statistics, so daily summaries,
baselines, findings, searches, exports and share links never carry it. Unmarking brings it
back. The caller recomputes the daily summaries of the days a change touched (`Change.ranges`)
and logs the act.

Targets are named as the FHIR API shows them: q-123, c-5, bp-7, Condition/abc, and w-9 for a
workout. A blood pressure is marked through its panel (bp-7), which marks its two parts too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from healthpod.errors import InvalidRequest, NotFound
from healthpod.store import rls, schema
from healthpod.store.observations import parse_id

_m = schema.marked_wrong
_WORKOUT = re.compile(r"^w-(\d{1,18})$")
_RESOURCE = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
MAX_REASON = 500
ID_HINT = (
    "Use the id `healthpod data list --type TYPE` shows (q-123, c-5, bp-7, w-9, Condition/abc)."
)


@dataclass(frozen=True, slots=True)
class Mark:
    target: str
    reason: str | None
    created_ms: int
    start_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.target,
            "reason": self.reason,
            "created_ms": self.created_ms,
            "start_ms": self.start_ms,
        }


@dataclass
class Change:
    """What a mark or an unmark did: the targets changed, and per sample type code the UTC
    range (lowest start, highest end) whose daily summaries must be computed again."""

    targets: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    def touch(self, code: str, start_ms: int, end_ms: int) -> None:
        lo, hi = self.ranges.get(code, (start_ms, end_ms))
        self.ranges[code] = (min(lo, start_ms), max(hi, end_ms))


def resolve(conn: Connection, person_id: int, target: str) -> list[dict[str, Any]]:
    """The stored rows `target` names (a panel's parts with it), as rows of `marked_wrong`.

    Raises:
        InvalidRequest: `target` is not an id of ours.
        NotFound: the person has no such row (another person's id is not theirs either).
    """
    missing = NotFound(f"There is no record {target} in your pod.", hint=ID_HINT)
    sample = parse_id(target)
    if sample is not None:
        kind, row_id = sample
        if kind == "bp":
            k = schema.correlations
            found = conn.execute(
                select(k.c.start_ms, k.c.end_ms).where(k.c.person_id == person_id, k.c.id == row_id)
            ).first()
            if found is None:
                raise missing
            q = schema.quantity_samples
            parts = conn.execute(
                select(q.c.id, q.c.type_id, q.c.start_ms, q.c.end_ms).where(
                    q.c.person_id == person_id, q.c.correlation_id == row_id
                )
            ).all()
            panel = _row(target, "bp", row_id, None, found.start_ms, found.end_ms)
            return [
                panel,
                *(_row(target, "q", p.id, p.type_id, p.start_ms, p.end_ms) for p in parts),
            ]
        table = schema.quantity_samples if kind == "q" else schema.category_samples
        row: Any = conn.execute(
            select(table.c.type_id, table.c.start_ms, table.c.end_ms, table.c.correlation_id).where(
                table.c.person_id == person_id, table.c.id == row_id
            )
        ).first()
        if row is None:
            raise missing
        if row.correlation_id is not None and _is_pressure(conn, person_id, row.correlation_id):
            raise InvalidRequest(
                f"{target} is one part of the blood pressure bp-{row.correlation_id}.",
                hint=f"Mark the whole reading: bp-{row.correlation_id}.",
            )
        return [_row(target, kind, row_id, row.type_id, row.start_ms, row.end_ms)]
    workout = _WORKOUT.match(target)
    if workout is not None:
        w = schema.workouts
        row = conn.execute(
            select(w.c.start_ms, w.c.end_ms).where(
                w.c.person_id == person_id, w.c.id == int(workout[1])
            )
        ).first()
        if row is None:
            raise missing
        return [_row(target, "w", int(workout[1]), None, row.start_ms, row.end_ms)]
    resource = _RESOURCE.match(target)
    if resource is None:
        raise InvalidRequest(f"{target!r} is not the id of a record.", hint=ID_HINT)
    r = schema.resources
    row = conn.execute(
        select(r.c.id, r.c.effective_start_ms, r.c.effective_end_ms).where(
            r.c.person_id == person_id,
            r.c.resource_type == resource[1],
            r.c.fhir_id == resource[2],
        )
    ).first()
    if row is None:
        raise missing
    return [_row(target, "r", row.id, None, row.effective_start_ms, row.effective_end_ms)]


def _is_pressure(conn: Connection, person_id: int, correlation_id: int) -> bool:
    k = schema.correlations
    code = conn.scalar(
        select(k.c.type_code).where(k.c.person_id == person_id, k.c.id == correlation_id)
    )
    return code == "blood_pressure"


def _row(
    target: str, kind: str, row_id: int, type_id: int | None, start: Any, end: Any
) -> dict[str, Any]:
    return {
        "target": target,
        "kind": kind,
        "row_id": int(row_id),
        "type_id": None if type_id is None else int(type_id),
        "start_ms": None if start is None else int(start),
        "end_ms": None if end is None else int(end),
    }


def _codes(conn: Connection) -> dict[int, str]:
    st = schema.sample_types
    return {int(i): str(c) for i, c in conn.execute(select(st.c.id, st.c.code))}


def _marked_targets(conn: Connection, person_id: int, targets: Sequence[str]) -> set[str]:
    return set(
        conn.scalars(
            select(_m.c.target).where(_m.c.person_id == person_id, _m.c.target.in_(list(targets)))
        )
    )


def mark(
    conn: Connection, person_id: int, targets: Sequence[str], reason: str | None, *, now_ms: int
) -> Change:
    """Mark these targets wrong (every one checked before any is stored).

    Raises:
        InvalidRequest: an id is not one of ours, a part of a blood pressure, or the reason
            too long.
        NotFound: an id is not one of the person's.
    """
    rls.act_for(conn, person_id)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidRequest(
            f"The reason is {len(reason)} characters long; at most {MAX_REASON} are kept.",
            hint="Say it more briefly.",
        )
    wanted = list(dict.fromkeys(targets))
    rows = {t: resolve(conn, person_id, t) for t in wanted}
    already = _marked_targets(conn, person_id, wanted)
    change = Change()
    codes = _codes(conn)
    for target in wanted:
        if target in already:
            change.unchanged.append(target)
            continue
        for row in rows[target]:
            taken = conn.scalar(
                select(_m.c.target).where(
                    _m.c.person_id == person_id,
                    _m.c.kind == row["kind"],
                    _m.c.row_id == row["row_id"],
                )
            )
            if taken is not None:  # a part already marked on its own (an older mark)
                continue
            conn.execute(
                insert(_m).values(person_id=person_id, reason=reason, created_ms=now_ms, **row)
            )
            _touch(change, codes, row)
        change.targets.append(target)
    return change


def unmark(conn: Connection, person_id: int, targets: Sequence[str]) -> Change:
    """Take the marks off these targets.

    Raises:
        NotFound: one of them is not marked wrong (nothing is unmarked then).
    """
    rls.act_for(conn, person_id)
    wanted = list(dict.fromkeys(targets))
    marked = _marked_targets(conn, person_id, wanted)
    absent = [t for t in wanted if t not in marked]
    if absent:
        raise NotFound(
            f"Not marked wrong: {', '.join(absent)}.",
            hint="`healthpod data wrong` lists what is.",
        )
    change = Change(targets=wanted)
    codes = _codes(conn)
    rows = conn.execute(
        select(_m).where(_m.c.person_id == person_id, _m.c.target.in_(wanted))
    ).mappings()
    for row in list(rows):
        _touch(change, codes, row)
    conn.execute(delete(_m).where(_m.c.person_id == person_id, _m.c.target.in_(wanted)))
    return change


def _touch(change: Change, codes: dict[int, str], row: Any) -> None:
    if row["type_id"] is not None and row["start_ms"] is not None:
        change.touch(codes[int(row["type_id"])], int(row["start_ms"]), int(row["end_ms"]))


def listing(conn: Connection, person_id: int) -> list[Mark]:
    """Every target the person marked wrong, newest mark first."""
    rls.act_for(conn, person_id)
    rows = conn.execute(
        select(
            _m.c.target,
            func.max(_m.c.reason),
            func.max(_m.c.created_ms),
            func.min(_m.c.start_ms),
        )
        .where(_m.c.person_id == person_id)
        .group_by(_m.c.target)
        .order_by(func.max(_m.c.created_ms).desc(), _m.c.target)
    )
    return [Mark(str(t), r, int(c), None if s is None else int(s)) for t, r, c, s in rows]


def reasons(conn: Connection, person_id: int, kind: str, row_ids: Sequence[int]) -> dict[int, str]:
    """row id → reason ("" without one) of the rows of `kind` among `row_ids` marked wrong."""
    rls.act_for(conn, person_id)
    if not row_ids:
        return {}
    rows = conn.execute(
        select(_m.c.row_id, _m.c.reason).where(
            _m.c.person_id == person_id, _m.c.kind == kind, _m.c.row_id.in_(list(row_ids))
        )
    )
    return {int(i): r or "" for i, r in rows}


# --- a span of one type ---------------------------------------------------------------------


def parse_moment(value: str, *, end: bool) -> tuple[int, bool]:
    """(epoch ms, local) of a date or date-time the person typed: a date is its whole day
    (`end`: the instant after it), and a time without an offset is local (`local` True:
    compared with each sample's own local time, as `data list` prints it).

    Raises:
        InvalidRequest: not a date or date-time.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{value!r} is not a date or a time.",
            hint="Write 2024-05-03, 2024-05-03T14:00 or 2024-05-03T14:00+02:00.",
        ) from None
    if len(text) <= 10 and end:
        moment += timedelta(days=1)
    if moment.tzinfo is None:
        naive = moment.replace(tzinfo=None)
        return int((naive - datetime(1970, 1, 1)).total_seconds() * 1000), True
    return int(moment.timestamp() * 1000), False
