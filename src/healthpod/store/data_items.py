"""Single items of one type as the person lists them to correct them: samples, blood pressures,
workouts or records from healthcare, each with its id, times, value, source and whether it is
marked wrong. Only the person's own door lists them (marked ones included).

A type is named as `healthpod stats` and the FHIR API show it: a sample type code (steps,
heart_rate), `blood_pressure`, `workout`, or a FHIR resource type (Condition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, literal, null, select

from healthpod.errors import InvalidRequest
from healthpod.store import marked_wrong, schema
from healthpod.store.person_data import Reader, unscoped

_RESOURCE_TYPE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
WORKOUT = "workout"
BLOOD_PRESSURE = "blood_pressure"


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a time span: epoch ms, and whether it is local wall-clock time."""

    ms: int
    local: bool


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    start_ms: int | None
    start_offset_min: int
    end_ms: int | None
    end_offset_min: int
    value: Any
    unit: str | None
    source: str | None
    wrong: str | None  # the reason ("" without one) when marked wrong, else None


def check_span(low: Bound | None, high: Bound | None) -> None:
    """Raises: InvalidRequest: the span ends before (or where) it starts."""
    if low is not None and high is not None and high.ms <= low.ms:
        raise InvalidRequest(
            "The span ends before it starts.",
            hint="Give --to a later time than --from.",
        )


def _span(start: Any, offset: Any, low: Bound | None, high: Bound | None) -> list[Any]:
    clauses: list[ColumnElement[bool]] = []
    for bound, is_low in ((low, True), (high, False)):
        if bound is None:
            continue
        # The literal as BIGINT: PostgreSQL would bind it as the offset's SMALLINT.
        local = start + offset * literal(60_000, BigInteger)
        column = local if bound.local and offset is not None else start
        clauses.append(column >= bound.ms if is_low else column < bound.ms)
    return clauses


def items(
    read: Reader,
    type_name: str,
    low: Bound | None = None,
    high: Bound | None = None,
    *,
    limit: int | None = None,
) -> list[Item]:
    """The items of one type starting inside [low, high), oldest first.

    Raises:
        AccessDenied: not the person's own door.
        InvalidRequest: no such type, or the span ends before it starts.
    """
    conn = unscoped(read)
    check_span(low, high)
    st = schema.sample_types
    s = schema.sources
    if type_name == WORKOUT:
        t: Any = schema.workouts
        kind, query = "w", select(
            t.c.id, t.c.start_ms, t.c.start_offset_min, t.c.end_ms, t.c.end_offset_min,
            t.c.activity_type, null(), s.c.name,
        ).join(s, s.c.id == t.c.source_id)  # fmt: skip
        prefix = "w-"
    elif type_name == BLOOD_PRESSURE:
        t = schema.correlations
        kind, prefix = "bp", "bp-"
        query = (
            select(
                t.c.id, t.c.start_ms, t.c.start_offset_min, t.c.end_ms, t.c.end_offset_min,
                null(), null(), s.c.name,
            )
            .join(s, s.c.id == t.c.source_id)
            .where(t.c.type_code == BLOOD_PRESSURE)
        )  # fmt: skip
    else:
        found = conn.execute(select(st.c.id, st.c.kind).where(st.c.code == type_name)).first()
        if found is not None:
            quantity = found.kind == "quantity"
            t = schema.quantity_samples if quantity else schema.category_samples
            kind = "q" if quantity else "c"
            prefix = f"{kind}-"
            query = (
                select(
                    t.c.id, t.c.start_ms, t.c.start_offset_min, t.c.end_ms, t.c.end_offset_min,
                    t.c.value if quantity else t.c.value_code,
                    t.c.unit if quantity else null(),
                    s.c.name,
                )
                .join(s, s.c.id == t.c.source_id)
                .where(t.c.type_id == found.id)
            )  # fmt: skip
            if quantity:
                query = query.where(_not_a_pressure_part(t))
        elif type_name and set(type_name) <= _RESOURCE_TYPE_CHARS and type_name[0].isupper():
            return _records(read, type_name, low, high, limit)
        else:
            raise InvalidRequest(
                f"{type_name!r} is not a type of data in your pod.",
                hint="Name a type as `healthpod stats` shows it (steps, heart_rate), "
                "blood_pressure, workout, or a record type (Condition).",
            )
    query = query.where(t.c.person_id == read.person_id)
    query = query.where(*_span(t.c.start_ms, t.c.start_offset_min, low, high))
    rows = conn.execute(_limited(query.order_by(t.c.start_ms, t.c.id), limit)).all()
    wrong = marked_wrong.reasons(conn, read.person_id, kind, [int(r[0]) for r in rows])
    values = _pressures(read, [int(r[0]) for r in rows]) if kind == "bp" else {}
    return [
        Item(
            f"{prefix}{r[0]}",
            int(r[1]),
            int(r[2]),
            int(r[3]),
            int(r[4]),
            values.get(int(r[0]), r[5]),
            "mm[Hg]" if kind == "bp" else r[6],
            r[7],
            wrong.get(int(r[0])),
        )
        for r in rows
    ]


def _limited(query: Select[Any], limit: int | None) -> Select[Any]:
    return query if limit is None else query.limit(limit)


def _not_a_pressure_part(t: Any) -> ColumnElement[bool]:
    k = schema.correlations
    pressure = select(k.c.id).where(k.c.id == t.c.correlation_id, k.c.type_code == BLOOD_PRESSURE)
    return ~pressure.exists()


def _pressures(read: Reader, ids: list[int]) -> dict[int, str]:
    """correlation id → "systolic/diastolic"."""
    if not ids:
        return {}
    q, st = schema.quantity_samples, schema.sample_types
    parts: dict[int, dict[str, float]] = {}
    for corr, code, value in read.conn.execute(
        select(q.c.correlation_id, st.c.code, q.c.value)
        .join(st, st.c.id == q.c.type_id)
        .where(q.c.person_id == read.person_id, q.c.correlation_id.in_(ids))
    ):
        parts.setdefault(int(corr), {})[str(code)] = float(value)

    def text(found: dict[str, float]) -> str:
        high = found.get("blood_pressure_systolic")
        low = found.get("blood_pressure_diastolic")
        return f"{high:g}/{low:g}" if high is not None and low is not None else ""

    return {corr: text(found) for corr, found in parts.items()}


def _records(
    read: Reader, resource_type: str, low: Bound | None, high: Bound | None, limit: int | None
) -> list[Item]:
    r = schema.resources
    query = select(
        r.c.id, r.c.fhir_id, r.c.effective_start_ms, r.c.effective_end_ms, r.c.json,
        r.c.organisation,
    ).where(r.c.person_id == read.person_id, r.c.resource_type == resource_type)  # fmt: skip
    query = query.where(*_span(r.c.effective_start_ms, None, low, high))
    rows = read.conn.execute(
        _limited(query.order_by(r.c.effective_start_ms.nulls_first(), r.c.id), limit)
    ).all()
    wrong = marked_wrong.reasons(read.conn, read.person_id, "r", [int(x.id) for x in rows])
    return [
        Item(
            f"{resource_type}/{x.fhir_id}",
            x.effective_start_ms,
            0,
            x.effective_end_ms,
            0,
            _text(x.json),
            None,
            x.organisation,
            wrong.get(int(x.id)),
        )
        for x in rows
    ]


def _text(resource: Any) -> str:
    """What a record is about: its code's text or first display."""
    if not isinstance(resource, dict):
        return ""
    for key in ("code", "vaccineCode", "medicationCodeableConcept", "type"):
        concept = resource.get(key)
        if isinstance(concept, list):
            concept = concept[0] if concept else None
        if not isinstance(concept, dict):
            continue
        if concept.get("text"):
            return str(concept["text"])
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
                return str(coding.get("display") or coding.get("code"))
    return ""
