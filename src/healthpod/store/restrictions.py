"""What the person marked "only me": whole types and single records no one else sees.

A restriction is part of the scope: when an actor's door opens a reader, `narrow` puts the
person's restricted types and whether any record is restricted into the `Scope`, and
`scope_sql` turns that into SQL like every other part of it. The person's own door is never
narrowed. Restricting and lifting are the person's own acts; the caller logs them.

Targets are named as the FHIR API shows them: a type by its sample type code (`step_count`,
`blood_pressure`) or its resource type (`Condition`); a record by its id (`q-123`, `c-5`,
`bp-7`) or `ResourceType/id` for a record from healthcare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
)

from healthpod.consent.model import Scope
from healthpod.errors import InvalidRequest, NotFound
from healthpod.store import rls, schema
from healthpod.store.observations import BP_TYPES, parse_id
from healthpod.store.scope_sql import among, ids_value
from healthpod.vocabulary import RESOURCE_CATEGORIES, sample_type

_x = schema.restrictions
TYPE, RECORD = "type", "record"
WRONG = "wrong"  # not a level: a row of `_NARROWING` saying something is marked wrong
_RESOURCE_ID = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
# Built once: every actor's decision runs it. One query: the restricted types, one row for
# "some record is restricted" and one for "something is marked wrong" (a person with none of
# these gets no row at all).
_w = schema.marked_wrong
_NARROWING = union_all(
    select(_x.c.level, _x.c.target).where(_x.c.person_id == bindparam("p"), _x.c.level == TYPE),
    select(literal(RECORD, _x.c.level.type), literal(None, _x.c.target.type)).where(
        exists().where(_x.c.person_id == bindparam("p"), _x.c.level == RECORD)
    ),
    select(literal(WRONG, _x.c.level.type), literal(None, _x.c.target.type)).where(
        exists().where(_w.c.person_id == bindparam("p"))
    ),
)


@dataclass(frozen=True, slots=True)
class Restriction:
    level: str  # type|record
    target: str
    created_ms: int

    def as_json(self) -> dict[str, Any]:
        return {"level": self.level, "target": self.target, "created_ms": self.created_ms}


@dataclass(frozen=True, slots=True)
class Counts:
    types: int
    records: int

    @property
    def any(self) -> bool:
        return bool(self.types or self.records)


def narrow(conn: Connection, person_id: int, scope: Scope) -> Scope:
    """`scope` with the person's restrictions in it (for every door but the person's own), and
    without what the person marked wrong (for every door); one query."""
    rls.act_for(conn, person_id)
    types: set[str] = set()
    records = wrong = False
    for level, target in conn.execute(_NARROWING, {"p": person_id}):
        if level == TYPE:
            types.add(target)
        elif level == RECORD:
            records = True
        else:
            wrong = True
    if "blood_pressure" in types:
        types.update(BP_TYPES)
    if wrong:
        scope = replace(scope, hides_wrong=True)
    if not types and not records:
        return scope
    return replace(scope, hidden_types=frozenset(types), hides_records=records)


def narrow_cohort(conn: Connection, scopes: Mapping[int, Scope]) -> dict[int, Scope]:
    """`narrow` for many persons (a study's cohort: person id → the scope of their consent) in
    one query, under row-level security's `cohort` scope."""
    ids = sorted(scopes)
    if not ids:
        return {}
    dialect = conn.dialect.name
    wanted, marked = among(_x.c.person_id, dialect), among(_w.c.person_id, dialect)
    query = union_all(
        select(_x.c.person_id, _x.c.level, _x.c.target).where(wanted, _x.c.level == TYPE),
        select(_x.c.person_id, literal(RECORD, _x.c.level.type), literal(None, _x.c.target.type))
        .where(wanted, _x.c.level == RECORD)
        .group_by(_x.c.person_id),
        select(_w.c.person_id, literal(WRONG, _x.c.level.type), literal(None, _x.c.target.type))
        .where(marked)
        .group_by(_w.c.person_id),
    )
    types: dict[int, set[str]] = {}
    records: set[int] = set()
    wrong: set[int] = set()
    with rls.scoped(conn, "cohort"):
        found = conn.execute(query, {"ids": ids_value(dialect, ids)}).all()
    for person_id, level, target in found:
        if level == TYPE:
            types.setdefault(int(person_id), set()).add(target)
        elif level == RECORD:
            records.add(int(person_id))
        else:
            wrong.add(int(person_id))
    narrowed: dict[int, Scope] = {}
    for person_id, scope in scopes.items():
        hidden = types.get(person_id, set())
        if "blood_pressure" in hidden:
            hidden.update(BP_TYPES)
        if person_id in wrong:
            scope = replace(scope, hides_wrong=True)
        if hidden or person_id in records:
            scope = replace(
                scope, hidden_types=frozenset(hidden), hides_records=person_id in records
            )
        narrowed[person_id] = scope
    return narrowed


def counts(conn: Connection, person_id: int) -> Counts:
    """How many types and records the person keeps to themselves."""
    rls.act_for(conn, person_id)
    found: dict[str, int] = dict(
        conn.execute(
            select(_x.c.level, func.count()).where(_x.c.person_id == person_id).group_by(_x.c.level)
        ).all()
    )
    return Counts(int(found.get(TYPE, 0)), int(found.get(RECORD, 0)))


def listing(conn: Connection, person_id: int) -> list[Restriction]:
    """Every restriction of the person, types first, then records, oldest first."""
    rls.act_for(conn, person_id)
    rows = conn.execute(
        select(_x.c.level, _x.c.target, _x.c.created_ms)
        .where(_x.c.person_id == person_id)
        .order_by(_x.c.level.desc(), _x.c.created_ms, _x.c.id)
    )
    return [Restriction(r.level, r.target, int(r.created_ms)) for r in rows]


def _type_row(conn: Connection, person_id: int, code: str) -> dict[str, Any]:
    """The restriction row of a whole type.

    Raises:
        InvalidRequest: no sample type or resource type has that name.
    """
    stored = conn.scalar(select(schema.sample_types.c.id).where(schema.sample_types.c.code == code))
    if stored is None and _RESOURCE_TYPE.match(code):
        r = schema.resources
        stored = conn.scalar(
            select(r.c.id).where(r.c.person_id == person_id, r.c.resource_type == code).limit(1)
        )
    known = (
        code == "blood_pressure"
        or sample_type(code) is not None
        or stored is not None
        or (_RESOURCE_TYPE.match(code) is not None and code in RESOURCE_CATEGORIES)
    )
    if not known:
        raise InvalidRequest(
            f"{code!r} is not a type of data healthpod knows.",
            hint="Name a sample type as `healthpod stats` shows it (step_count, heart_rate) "
            "or a FHIR resource type (Condition, MedicationStatement).",
        )
    return {"level": TYPE, "target": code}


def _record_row(conn: Connection, person_id: int, target: str) -> dict[str, Any]:
    """The restriction row of one record of the person.

    Raises:
        InvalidRequest: `target` is not a record id.
        NotFound: the person has no record with that id.
    """
    missing = NotFound(
        f"There is no record {target} in your pod.",
        hint="Use the id as the FHIR API shows it (q-123, c-5, bp-7, Condition/abc).",
    )
    sample = parse_id(target)
    if sample is not None:
        kind, row_id = sample
        table = {
            "q": schema.quantity_samples,
            "c": schema.category_samples,
            "bp": schema.correlations,
        }[kind]
        columns = [table.c.start_ms]
        if kind != "bp":
            columns.append(table.c.type_id)
        where = [table.c.person_id == person_id, table.c.id == row_id]
        if kind == "q":  # a blood pressure's part is restricted through its panel
            where.append(table.c.correlation_id.is_(None))
        row = conn.execute(select(*columns).where(*where)).first()
        if row is None:
            raise missing
        type_id = None if kind == "bp" else int(row[1])
        return {
            "level": RECORD,
            "target": target,
            "kind": kind,
            "row_id": row_id,
            "type_id": type_id,
            "start_ms": int(row[0]),
        }
    match = _RESOURCE_ID.match(target)
    if match is None:
        raise InvalidRequest(
            f"{target!r} is not the id of a record.",
            hint="Use the id as the FHIR API shows it (q-123, c-5, bp-7, Condition/abc); "
            "a whole type with --type.",
        )
    r = schema.resources
    found = conn.scalar(
        select(r.c.id).where(
            r.c.person_id == person_id, r.c.resource_type == match[1], r.c.fhir_id == match[2]
        )
    )
    if found is None:
        raise missing
    return {"level": RECORD, "target": target, "kind": "r", "row_id": int(found)}


def add(
    conn: Connection, person_id: int, types: list[str], records: list[str], *, now_ms: int
) -> list[str]:
    """Restrict these types and records (all checked before any is stored); the targets that
    were not restricted already.

    Raises:
        InvalidRequest: a name is not a type, or an id not a record id.
        NotFound: a record id is not one of the person's.
    """
    rls.act_for(conn, person_id)
    rows = [_type_row(conn, person_id, t) for t in types] + [
        _record_row(conn, person_id, t) for t in records
    ]
    have = {(r.level, r.target) for r in listing(conn, person_id)}
    added: list[str] = []
    for row in rows:
        if (row["level"], row["target"]) in have:
            continue
        have.add((row["level"], row["target"]))
        conn.execute(insert(_x).values(person_id=person_id, created_ms=now_ms, **row))
        added.append(row["target"])
    return added


def remove(conn: Connection, person_id: int, types: list[str], records: list[str]) -> list[str]:
    """Lift these restrictions; the targets that were restricted.

    Raises:
        NotFound: one of them is not restricted (nothing is lifted then).
    """
    rls.act_for(conn, person_id)
    wanted = [(TYPE, t) for t in types] + [(RECORD, t) for t in records]
    have = {(r.level, r.target) for r in listing(conn, person_id)}
    absent = [target for level, target in wanted if (level, target) not in have]
    if absent:
        raise NotFound(
            f"Not restricted: {', '.join(absent)}.",
            hint="`healthpod data restrictions` lists what is.",
        )
    for level, target in wanted:
        conn.execute(
            delete(_x).where(
                _x.c.person_id == person_id, _x.c.level == level, _x.c.target == target
            )
        )
    return [target for _, target in dict.fromkeys(wanted)]
