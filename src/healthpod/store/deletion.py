"""Deleting one thing: a sample, a blood pressure, a workout, a record, or a whole import with
everything it added; and the tombstones that keep an import from bringing it back.

Deleting leaves no row of it behind: the row, a blood pressure's two parts, a record's search
index, the marks and "only me" restrictions on them, and for an import its `imports` row and
the sources and devices nothing else uses. Each deleted row leaves a tombstone (its natural
key: type, times, source name, value), and `purge_import` drops what an import adds that
matches one, until the person lifts it. The caller recomputes the daily summaries of the days
touched (`Deleted.ranges`) and logs the act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, String, Table, and_, cast, delete, exists, func, insert, select

from healthpod.errors import NotFound
from healthpod.store import schema
from healthpod.store.marked_wrong import resolve

_t = schema.tombstones
_q, _c, _k = schema.quantity_samples, schema.category_samples, schema.correlations
_w, _r, _a = schema.workouts, schema.resources, schema.activity_summaries
_s, _st = schema.sources, schema.sample_types
_TABLES: dict[str, Table] = {"q": _q, "c": _c, "bp": _k, "w": _w, "r": _r}


@dataclass
class Deleted:
    """What a delete removed: the targets, rows per kind, and per sample type code the UTC
    range whose daily summaries must be computed again."""

    targets: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_code: dict[str, int] = field(default_factory=dict)  # per code, as an import counts

    def touch(self, code: str, start_ms: int, end_ms: int) -> None:
        lo, hi = self.ranges.get(code, (start_ms, end_ms))
        self.ranges[code] = (min(lo, start_ms), max(hi, end_ms))

    def tally(self, code: str, n: int) -> None:
        self.by_code[code] = self.by_code.get(code, 0) + n

    def count(self, kind: str, n: int) -> None:
        if n:
            self.rows[kind] = self.rows.get(kind, 0) + n


@dataclass(frozen=True, slots=True)
class Tombstone:
    id: int
    kind: str
    code: str
    start_ms: int | None
    text: str | None
    target: str
    deleted_ms: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "type": self.code,
            "start_ms": self.start_ms,
            "was": self.target,
            "deleted_ms": self.deleted_ms,
        }


# --- the natural key of each kind of row, as a tombstone holds it ------------------------------


def _key_columns(kind: str) -> tuple[Any, list[Any]]:
    """(select of the key columns of table `kind`, joined to its type and source names)."""
    if kind in ("q", "c"):
        t = _TABLES[kind]
        value = t.c.value if kind == "q" else None
        text = t.c.value_code if kind == "c" else None
        cols = [t.c.id, _st.c.code, t.c.start_ms, t.c.end_ms, _s.c.name, value, text]
        joined = t.join(_st, _st.c.id == t.c.type_id).join(_s, _s.c.id == t.c.source_id)
        return joined, cols
    if kind == "bp":
        cols = [_k.c.id, _k.c.type_code, _k.c.start_ms, _k.c.end_ms, _s.c.name, None, None]
        return _k.join(_s, _s.c.id == _k.c.source_id), cols
    if kind == "w":
        cols = [_w.c.id, _w.c.activity_type, _w.c.start_ms, _w.c.end_ms, _s.c.name, None, None]
        return _w.join(_s, _s.c.id == _w.c.source_id), cols
    cols = [_r.c.id, _r.c.resource_type, _r.c.effective_start_ms, _r.c.effective_end_ms, None,
            None, _r.c.fhir_id]  # fmt: skip
    return _r, cols


def _bury(
    conn: Connection, person_id: int, kind: str, where: Any, target: Any, now_ms: int
) -> list[Any]:
    """Write the tombstones of the rows of `kind` matching `where`; their key rows."""
    joined, cols = _key_columns(kind)
    table = _TABLES[kind]
    picked = [c for c in cols if c is not None]
    rows = conn.execute(
        select(*picked).select_from(joined).where(table.c.person_id == person_id, where)
    ).all()
    stones = []
    for row in rows:
        values = dict(zip([i for i, c in enumerate(cols) if c is not None], row, strict=True))
        stones.append(
            {
                "person_id": person_id,
                "kind": kind,
                "code": str(values[1]),
                "start_ms": values.get(2),
                "end_ms": values.get(3),
                "source": values.get(4),
                "value": values.get(5),
                "text": values.get(6),
                "target": target(row) if callable(target) else target,
                "deleted_ms": now_ms,
            }
        )
    if stones:
        conn.execute(insert(_t), stones)
    return list(rows)


def _forget_marks(conn: Connection, person_id: int, kind: str, ids: Sequence[int]) -> None:
    """Drop the marks and record restrictions that name these rows."""
    if not ids:
        return
    m, x = schema.marked_wrong, schema.restrictions
    for table in (m, x):
        conn.execute(
            delete(table).where(
                table.c.person_id == person_id, table.c.kind == kind, table.c.row_id.in_(ids)
            )
        )


def _drop(
    conn: Connection, person_id: int, kind: str, where: Any, target: Any, gone: Deleted, now_ms: int
) -> None:
    """Tombstone, then delete the rows of `kind` matching `where` (and what names them)."""
    table = _TABLES[kind]
    rows = _bury(conn, person_id, kind, where, target, now_ms)
    ids = [int(r[0]) for r in rows]
    if not ids:
        return
    if kind in ("q", "c"):
        for r in rows:
            gone.touch(str(r[1]), int(r[2]), int(r[3]))
    _forget_marks(conn, person_id, kind, ids)
    if kind == "r":
        tokens = schema.resource_tokens
        conn.execute(delete(tokens).where(tokens.c.resource_id.in_(ids)))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(delete(table).where(table.c.person_id == person_id, table.c.id.in_(chunk)))
    gone.count(kind, len(ids))


# --- deleting ---------------------------------------------------------------------------------


def delete_items(
    conn: Connection, person_id: int, targets: Sequence[str], *, now_ms: int
) -> Deleted:
    """Delete these items (every one checked before any is deleted).

    Raises:
        InvalidRequest: an id is not one of ours, or a part of a blood pressure.
        NotFound: an id is not one of the person's (or was deleted already).
    """
    wanted = list(dict.fromkeys(targets))
    resolved = {t: resolve(conn, person_id, t) for t in wanted}
    gone = Deleted()
    for target in wanted:
        # parts before their panel: a part's correlation_id names it
        for row in sorted(resolved[target], key=lambda r: r["kind"] == "bp"):
            table = _TABLES[row["kind"]]
            _drop(conn, person_id, row["kind"], table.c.id == row["row_id"], target, gone, now_ms)
        gone.targets.append(target)
    return gone


def delete_import(conn: Connection, person_id: int, import_id: int, *, now_ms: int) -> Deleted:
    """Delete an import and every row it added, then the sources and devices nothing uses.

    Raises:
        NotFound: the person has no import with that id (or it was deleted already).
    """
    i = schema.imports
    found = conn.scalar(select(i.c.status).where(i.c.person_id == person_id, i.c.id == import_id))
    if found is None:
        raise NotFound(
            f"There is no import {import_id} in your pod.",
            hint="`healthpod imports` lists them, with their ids.",
        )
    if found == "running":
        raise NotFound(
            f"Import {import_id} is still running.",
            hint="Wait until it is finished, then delete it.",
        )
    gone = Deleted(targets=[f"import {import_id}"])
    ids = {
        "q": lambda r: f"q-{r[0]}",
        "c": lambda r: f"c-{r[0]}",
        "bp": lambda r: f"bp-{r[0]}",
        "w": lambda r: f"w-{r[0]}",
        "r": lambda r: f"{r[1]}/{r[-1]}",
    }
    for kind in ("q", "c", "bp", "w", "r"):
        table = _TABLES[kind]
        _drop(conn, person_id, kind, table.c.import_id == import_id, ids[kind], gone, now_ms)
    days = conn.execute(
        select(_a.c.date_on).where(_a.c.person_id == person_id, _a.c.import_id == import_id)
    ).all()
    if days:
        conn.execute(
            insert(_t),
            [
                {"person_id": person_id, "kind": "a", "code": "activity_summary",
                 "text": str(d[0]), "target": f"activity summary {d[0]}", "deleted_ms": now_ms}
                for d in days
            ],
        )  # fmt: skip
        conn.execute(delete(_a).where(_a.c.person_id == person_id, _a.c.import_id == import_id))
        gone.count("a", len(days))
    moved = schema.moved_history
    n = conn.execute(
        delete(moved).where(moved.c.person_id == person_id, moved.c.import_id == import_id)
    ).rowcount
    gone.count("moved", n)
    si = schema.summarized_imports
    conn.execute(delete(si).where(si.c.import_id == import_id))
    conn.execute(delete(i).where(i.c.person_id == person_id, i.c.id == import_id))
    _drop_unused_sources(conn, person_id)
    return gone


def _drop_unused_sources(conn: Connection, person_id: int) -> None:
    """Sources and devices no sample, blood pressure or workout names any more."""
    d, sp = schema.devices, schema.source_type_priorities
    used = [
        select(t.c.id).where(t.c.person_id == person_id, t.c.source_id == _s.c.id)
        for t in (_q, _c, _k, _w)
    ]
    unused = select(_s.c.id).where(_s.c.person_id == person_id, *[~exists(u) for u in used])
    ids = [int(x) for x in conn.scalars(unused)]
    if ids:
        conn.execute(delete(sp).where(sp.c.person_id == person_id, sp.c.source_id.in_(ids)))
        conn.execute(delete(_s).where(_s.c.person_id == person_id, _s.c.id.in_(ids)))
    used_d = [
        select(t.c.id).where(t.c.person_id == person_id, t.c.device_id == d.c.id)
        for t in (_q, _c, _k, _w)
    ]
    conn.execute(delete(d).where(d.c.person_id == person_id, *[~exists(u) for u in used_d]))


# --- tombstones -------------------------------------------------------------------------------


def any_tombstone(conn: Connection, person_id: int) -> bool:
    return (
        conn.execute(select(_t.c.id).where(_t.c.person_id == person_id).limit(1)).first()
        is not None
    )


def listing(conn: Connection, person_id: int) -> list[Tombstone]:
    """Every tombstone of the person, newest first."""
    rows = conn.execute(
        select(
            _t.c.id, _t.c.kind, _t.c.code, _t.c.start_ms, _t.c.text, _t.c.target, _t.c.deleted_ms
        )
        .where(_t.c.person_id == person_id)
        .order_by(_t.c.deleted_ms.desc(), _t.c.id.desc())
    )
    return [Tombstone(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6])) for r in rows]


def lift(conn: Connection, person_id: int, ids: Sequence[int] | None) -> int:
    """Lift tombstones (None: all of them), so an import may bring their data back; how many.

    Raises:
        NotFound: an id is not one of the person's tombstones (nothing is lifted then).
    """
    where = [_t.c.person_id == person_id]
    if ids is not None:
        wanted = sorted(set(ids))
        have = set(conn.scalars(select(_t.c.id).where(*where, _t.c.id.in_(wanted))))
        missing = [str(i) for i in wanted if i not in have]
        if missing:
            raise NotFound(
                f"There is no tombstone {', '.join(missing)}.",
                hint="`healthpod data tombstones` lists them.",
            )
        where.append(_t.c.id.in_(wanted))
    return int(conn.execute(delete(_t).where(*where)).rowcount or 0)


def purge_import(conn: Connection, person_id: int, import_id: int) -> Deleted:
    """Drop what an import just added that matches a tombstone (in the import's transaction,
    before it commits): the person deleted it, and it stays deleted."""
    gone = Deleted()
    if not any_tombstone(conn, person_id):
        return gone
    stone = _t.alias("stone")
    own = [stone.c.person_id == person_id]

    def matches(kind: str, table: Any, *same: Any, typed: bool = False) -> Any:
        """A tombstone of `kind` with the row's natural key (its source and type by name)."""
        joined: Any = stone
        where = [*own, stone.c.kind == kind, *same]
        if "source_id" in table.c:
            joined = joined.join(
                _s, and_(_s.c.name == stone.c.source, _s.c.person_id == stone.c.person_id)
            )
            where.append(_s.c.id == table.c.source_id)
        if typed:
            joined = joined.join(_st, _st.c.code == stone.c.code)
            where.append(_st.c.id == table.c.type_id)
        return exists(select(stone.c.id).select_from(joined).where(*where))

    def timed(table: Any) -> list[Any]:
        return [stone.c.start_ms == table.c.start_ms, stone.c.end_ms == table.c.end_ms]

    q_match = matches("q", _q, *timed(_q), stone.c.value == _q.c.value, typed=True)
    c_match = matches("c", _c, *timed(_c), stone.c.text == _c.c.value_code, typed=True)
    k_match = matches("bp", _k, *timed(_k), stone.c.code == _k.c.type_code)
    w_match = matches("w", _w, *timed(_w), stone.c.code == _w.c.activity_type)
    r_match = matches("r", _r, stone.c.code == _r.c.resource_type, stone.c.text == _r.c.fhir_id)
    for kind, match in (("q", q_match), ("c", c_match), ("bp", k_match), ("w", w_match),
                        ("r", r_match)):  # fmt: skip
        table = _TABLES[kind]
        mine = and_(table.c.person_id == person_id, table.c.import_id == import_id)
        found = conn.execute(select(table.c.id).where(mine, match)).all()
        ids = [int(r[0]) for r in found]
        if not ids:
            continue
        if kind in ("q", "c"):
            for code_, lo, hi, n_code in conn.execute(
                select(
                    _st.c.code,
                    func.min(table.c.start_ms),
                    func.max(table.c.end_ms),
                    func.count(),
                )
                .join(_st, _st.c.id == table.c.type_id)
                .where(table.c.id.in_(ids))
                .group_by(_st.c.code)
            ):
                gone.touch(str(code_), int(lo), int(hi))
                gone.tally(str(code_), int(n_code))
        else:  # as an import counts them: by correlation type, "workout", by resource type
            name = {"bp": _k.c.type_code, "w": None, "r": _r.c.resource_type}[kind]
            if name is None:
                gone.tally("workout", len(ids))
            else:
                for code_, n_code in conn.execute(
                    select(name, func.count()).where(table.c.id.in_(ids)).group_by(name)
                ):
                    gone.tally(str(code_), int(n_code))
        if kind == "r":
            tokens = schema.resource_tokens
            conn.execute(delete(tokens).where(tokens.c.resource_id.in_(ids)))
        if kind == "bp":  # parts a tombstone did not name go with their panel
            conn.execute(
                delete(_q).where(_q.c.person_id == person_id, _q.c.correlation_id.in_(ids))
            )
        for start in range(0, len(ids), 500):
            conn.execute(delete(table).where(table.c.id.in_(ids[start : start + 500])))
        gone.count(kind, len(ids))
    a_match = matches("a", _a, stone.c.text == cast(_a.c.date_on, String))
    n = conn.execute(
        delete(_a).where(_a.c.person_id == person_id, _a.c.import_id == import_id, a_match)
    ).rowcount
    gone.count("a", n)
    if n:
        gone.tally("activity_summary", n)
    if gone.rows:
        _drop_unused_sources(conn, person_id)
    return gone
