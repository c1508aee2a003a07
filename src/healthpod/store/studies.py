"""Studies in the database: the study itself, who joined it, and who opted out of all research.

`healthpod.research.studies` holds the rules (who may join, what a study may ask); this module
only reads and writes the rows. Cross-person reads (a study's cohort) open the `research` scope
of row-level security on PostgreSQL; writes name their person first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    String,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from healthpod.store import rls, schema
from healthpod.store.scope_sql import among, ids_value

_studies = schema.studies
_participants = schema.study_participants
_opt_outs = schema.research_opt_outs
_releases = schema.study_releases
_ledger = schema.privacy_ledger


@dataclass(frozen=True, slots=True)
class StudyRow:
    id: int
    actor_id: int
    title: str
    summary_en: str | None
    summary_sv: str | None
    ethics_ref: str | None
    duo: tuple[str, ...]
    categories: tuple[str, ...]
    granularity: str
    data_from_ms: int
    data_to_ms: int
    releases: str
    min_cohort: int
    epsilon_total: float
    status: str
    end_ms: int | None
    created_ms: int
    opened_ms: int | None
    closed_ms: int | None


@dataclass(frozen=True, slots=True)
class Participation:
    id: int
    study_id: int
    person_id: int
    consent_id: int
    joined_ms: int
    left_ms: int | None


def _study(row: Mapping[Any, Any]) -> StudyRow:
    values = dict(row)
    values["duo"] = tuple(values["duo"])
    values["categories"] = tuple(values["categories"])
    return StudyRow(**values)


def add(conn: Connection, values: Mapping[str, Any]) -> int:
    """Store a new study (status draft); returns its id."""
    key = conn.execute(insert(_studies).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def get(conn: Connection, study_id: int) -> StudyRow | None:
    if not 0 < study_id < 2**31:
        return None
    row = conn.execute(select(_studies).where(_studies.c.id == study_id)).mappings().first()
    return None if row is None else _study(row)


def list_all(conn: Connection, *, status: str | None = None) -> list[StudyRow]:
    query = select(_studies).order_by(_studies.c.id)
    if status is not None:
        query = query.where(_studies.c.status == status)
    return [_study(row) for row in conn.execute(query).mappings()]


def set_status(conn: Connection, study_id: int, status: str, *, now_ms: int) -> None:
    values: dict[str, Any] = {"status": status}
    values["opened_ms" if status == "open" else "closed_ms"] = now_ms
    conn.execute(update(_studies).where(_studies.c.id == study_id).values(**values))


def current(conn: Connection, study_id: int, person_id: int) -> Participation | None:
    """The person's participation in the study that has not ended, if any."""
    rls.act_for(conn, person_id)
    row = (
        conn.execute(
            select(_participants).where(
                _participants.c.study_id == study_id,
                _participants.c.person_id == person_id,
                _participants.c.left_ms.is_(None),
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else Participation(**row)


def by_consent(conn: Connection, person_id: int, consent_id: int) -> StudyRow | None:
    """The study the person joined with this consent, or None (a consent of no study)."""
    rls.act_for(conn, person_id)
    study_id = conn.scalar(
        select(_participants.c.study_id).where(
            _participants.c.person_id == person_id, _participants.c.consent_id == consent_id
        )
    )
    return None if study_id is None else get(conn, int(study_id))


def of_person(conn: Connection, person_id: int) -> list[Participation]:
    """Every participation of the person, current and ended, oldest first."""
    rls.act_for(conn, person_id)
    rows = conn.execute(
        select(_participants)
        .where(_participants.c.person_id == person_id)
        .order_by(_participants.c.id)
    ).mappings()
    return [Participation(**row) for row in rows]


def join(
    conn: Connection, study_id: int, person_id: int, consent_id: int, *, now_ms: int
) -> Participation:
    rls.act_for(conn, person_id)
    values = {
        "study_id": study_id,
        "person_id": person_id,
        "consent_id": consent_id,
        "joined_ms": now_ms,
    }
    key = conn.execute(insert(_participants).values(**values)).inserted_primary_key
    assert key is not None
    return Participation(id=int(key[0]), left_ms=None, **values)


def leave(conn: Connection, participation_id: int, person_id: int, *, now_ms: int) -> None:
    rls.act_for(conn, person_id)
    conn.execute(
        update(_participants)
        .where(_participants.c.id == participation_id, _participants.c.person_id == person_id)
        .values(left_ms=now_ms)
    )


def participants(conn: Connection, study_id: int) -> list[Participation]:
    """The study's current participants, less anyone who opted out of all research."""
    opted_out = select(_opt_outs.c.person_id)
    with rls.scoped(conn, "research"):
        rows = conn.execute(
            select(_participants)
            .where(
                _participants.c.study_id == study_id,
                _participants.c.left_ms.is_(None),
                _participants.c.person_id.not_in(opted_out),
            )
            .order_by(_participants.c.person_id)
        ).mappings()
        return [Participation(**row) for row in rows]


def opted_out_since(conn: Connection, person_id: int) -> int | None:
    """When the person opted out of all secondary use (EHDS Art. 71), or None."""
    rls.act_for(conn, person_id)
    found = conn.scalar(select(_opt_outs.c.since_ms).where(_opt_outs.c.person_id == person_id))
    return None if found is None else int(found)


def set_opt_out(conn: Connection, person_id: int, opted_out: bool, *, now_ms: int) -> None:
    rls.act_for(conn, person_id)
    conn.execute(delete(_opt_outs).where(_opt_outs.c.person_id == person_id))
    if opted_out:
        conn.execute(insert(_opt_outs).values(person_id=person_id, since_ms=now_ms))


def spent(
    conn: Connection, person_ids: list[int], *, study_id: int | None, since_ms: int
) -> dict[int, float]:
    """The epsilon charged to each person: by one study (`study_id`), or by all since a time."""
    dialect = conn.dialect.name
    query = (
        select(_ledger.c.person_id, func.sum(_ledger.c.epsilon))
        .where(among(_ledger.c.person_id, dialect), _ledger.c.at_ms >= since_ms)
        .group_by(_ledger.c.person_id)
    )
    if study_id is not None:
        query = query.where(_ledger.c.study_id == study_id)
    with rls.scoped(conn, "research"):
        found = conn.execute(query, {"ids": ids_value(dialect, person_ids)})
        return {int(p): float(e) for p, e in found}


def released_epsilon(conn: Connection) -> dict[int, float]:
    """The epsilon of every study's releases added up (what each contributor was charged at
    most), by study id; a study with no release is absent."""
    query = select(_releases.c.study_id, func.sum(_releases.c.epsilon)).group_by(
        _releases.c.study_id
    )
    return {int(s): float(e) for s, e in conn.execute(query)}


def most_spent(
    conn: Connection, person_ids: list[int], *, study_id: int, since_ms: int
) -> tuple[float, float]:
    """The most any of `person_ids` has been charged by the study, and by every study since
    `since_ms` (0.0 when none was): what a release over them may still spend, checked
    before every answer.

    On PostgreSQL the ledger's (person, time) index carries the study and epsilon, and the
    persons are one array (`= ANY`, not a join the planner turns into a loop of ten thousand
    lookups): one index-only pass over the cohort's rows, whose heap pages (as many per
    person as there were releases) are not read. As the app role, at 51 releases over 10,000
    people: 65 ms, where the per-person lookups of the heap took about a second.
    """
    dialect = conn.dialect.name
    with rls.scoped(conn, "research"):
        if dialect == "postgresql":
            row = conn.exec_driver_sql(
                "SELECT max(by_study), max(by_year) FROM (SELECT "
                "sum(epsilon) FILTER (WHERE study_id = %(study)s) AS by_study, "
                "sum(epsilon) FILTER (WHERE at_ms >= %(since)s) AS by_year "
                "FROM privacy_ledger WHERE person_id = ANY(CAST(%(ids)s AS BIGINT[])) "
                "AND (study_id = %(study)s OR at_ms >= %(since)s) GROUP BY person_id) AS spent",
                {"ids": ids_value(dialect, person_ids), "study": study_id, "since": since_ms},
            ).one()
            return float(row[0] or 0.0), float(row[1] or 0.0)
        c = _ledger.c
        in_study, recent = c.study_id == study_id, c.at_ms >= since_ms
        per_person = (
            select(
                func.sum(c.epsilon).filter(in_study).label("by_study"),
                func.sum(c.epsilon).filter(recent).label("by_year"),
            )
            .where(among(c.person_id, dialect), or_(in_study, recent))
            .group_by(c.person_id)
            .subquery()
        )
        found = conn.execute(
            select(func.max(per_person.c.by_study), func.max(per_person.c.by_year)),
            {"ids": ids_value(dialect, person_ids)},
        ).one()
    return float(found[0] or 0.0), float(found[1] or 0.0)


def add_release(conn: Connection, values: Mapping[str, Any]) -> int:
    key = conn.execute(insert(_releases).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def charge(
    conn: Connection, release_id: int, study_id: int, person_id: int, epsilon: float, *, now_ms: int
) -> None:
    """Charge one contributing person for one release (the caller named the person)."""
    rls.act_for(conn, person_id)
    conn.execute(
        insert(_ledger).values(
            release_id=release_id,
            person_id=person_id,
            study_id=study_id,
            epsilon=epsilon,
            at_ms=now_ms,
        )
    )


def charge_many(
    conn: Connection,
    release_id: int,
    study_id: int,
    person_ids: list[int],
    epsilon: float,
    *,
    now_ms: int,
) -> None:
    """Charge every contributing person for one release, in one statement (under the
    `research` scope, which may add ledger rows but not change them)."""
    if not person_ids:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        each: Any = select(
            func.unnest(cast(bindparam("ids", type_=String), ARRAY(BigInteger))).label("value")
        ).subquery()
    else:
        each = (
            select(literal_column("value")).select_from(func.json_each(bindparam("ids"))).subquery()
        )
    rows = select(
        literal(release_id), each.c.value, literal(study_id), literal(epsilon), literal(now_ms)
    )
    columns = ["release_id", "person_id", "study_id", "epsilon", "at_ms"]
    with rls.scoped(conn, "research"):
        conn.execute(
            insert(_ledger).from_select(columns, rows), {"ids": ids_value(dialect, person_ids)}
        )
