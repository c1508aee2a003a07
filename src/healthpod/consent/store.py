"""Consents in the database: grant, narrow, revoke, list, and load them for each request.

Every change bumps the consent's version, keeps the new state in `consent_history` (receipts
are built from it) and appends an entry to the person's access log, all in the caller's
transaction. A consent can only be narrowed, never widened: more access needs a new grant,
which the person gives through the authorize step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from healthpod.consent import audit
from healthpod.consent.actors import get_actor
from healthpod.consent.model import (
    ALL_CATEGORIES,
    Action,
    Consent,
    ConsentStatus,
    Granularity,
    Scope,
)
from healthpod.errors import Conflict, InvalidRequest, NotFound
from healthpod.store import rls, schema
from healthpod.store.scope_sql import ids_value

consents = schema.consents
history = schema.consent_history
actors = schema.actors


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One version of a consent: what changed, when, and the state after it."""

    consent_id: int
    version: int
    change: str  # granted|narrowed|revoked
    at_ms: int
    consent: Consent


def grant(
    conn: Connection,
    person_id: int,
    actor_id: int,
    scope: Scope,
    *,
    valid_until_ms: int | None,
    now_ms: int,
    valid_from_ms: int | None = None,
    purpose: str | None = None,
) -> Consent:
    """Record the person's consent for the actor, with the scope the person allowed.

    The purpose is the actor's declared one unless given. Logged as `consent.granted`.

    Raises:
        InvalidRequest: no categories or actions, an unknown category, an empty data window,
            or an end date that has passed.
        NotFound: no such actor.
        Conflict: the actor is disabled.
    """
    rls.act_for(conn, person_id)
    audit.lock_chain(conn, person_id)  # first: this transaction will write the log
    actor = get_actor(conn, actor_id)
    if actor.disabled:
        raise Conflict(f"Actor {actor.name!r} is disabled and cannot be given a consent.")
    _check_scope(scope)
    valid_from = now_ms if valid_from_ms is None else valid_from_ms
    if valid_until_ms is not None and valid_until_ms <= max(now_ms, valid_from):
        raise InvalidRequest("The consent's end date must be in the future.")
    values = {
        "person_id": person_id,
        "actor_id": actor_id,
        "purpose": purpose or actor.purpose,
        "categories": sorted(scope.categories),
        "actions": sorted(a.value for a in scope.actions),
        "data_from_ms": scope.data_from_ms,
        "data_to_ms": scope.data_to_ms,
        "granularity": scope.granularity.value,
        "valid_from_ms": valid_from,
        "valid_until_ms": valid_until_ms,
        "revoked_ms": None,
        "status": ConsentStatus.ACTIVE.value,
        "version": 1,
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }
    consent_id = conn.execute(
        insert(consents).values(**values).returning(consents.c.id)
    ).scalar_one()
    consent = _consent({"id": consent_id, **values})
    _remember(conn, consent, "granted", now_ms, actor_name=actor.name)
    return consent


def narrow(
    conn: Connection,
    person_id: int,
    consent_id: int,
    *,
    now_ms: int,
    categories: Iterable[str] | None = None,
    actions: Iterable[Action] | None = None,
    data_from_ms: int | None = None,
    data_to_ms: int | None = None,
    granularity: Granularity | None = None,
    valid_until_ms: int | None = None,
) -> Consent:
    """Make a consent cover less; `None` leaves a part as it is. Logged as `consent.narrowed`.

    Raises:
        NotFound: the person has no consent with this id.
        Conflict: the consent is revoked.
        InvalidRequest: the change would widen the consent, or leave it empty.
    """
    rls.act_for(conn, person_id)
    audit.lock_chain(conn, person_id)
    current = get_consent(conn, person_id, consent_id, for_update=True)
    if current.status is ConsentStatus.REVOKED:
        raise Conflict(f"Consent {consent_id} is revoked; it cannot be changed.")
    new_categories = current.categories if categories is None else frozenset(categories)
    new_actions = current.actions if actions is None else frozenset(actions)
    new_from = current.data_from_ms if data_from_ms is None else data_from_ms
    new_to = current.data_to_ms if data_to_ms is None else data_to_ms
    new_granularity = current.granularity if granularity is None else granularity
    new_until = current.valid_until_ms if valid_until_ms is None else valid_until_ms
    widened = []
    if not new_categories <= current.categories:
        widened.append("categories " + ", ".join(sorted(new_categories - current.categories)))
    if not new_actions <= current.actions:
        widened.append(
            "actions " + ", ".join(sorted(a.value for a in new_actions - current.actions))
        )
    if current.data_from_ms is not None and (new_from is None or new_from < current.data_from_ms):
        widened.append("an earlier start of the data")
    if current.data_to_ms is not None and (new_to is None or new_to > current.data_to_ms):
        widened.append("a later end of the data")
    if current.granularity is Granularity.DAILY and new_granularity is Granularity.RAW:
        widened.append("raw samples instead of daily summaries")
    if current.valid_until_ms is not None and (
        new_until is None or new_until > current.valid_until_ms
    ):
        widened.append("a later end date")
    if widened:
        raise InvalidRequest(
            f"Consent {consent_id} can only be narrowed; this would add "
            + "; ".join(widened)
            + ".",
            hint="Ask the actor to request a new consent instead.",
        )
    _check_scope(Scope(new_categories, new_from, new_to, new_granularity, new_actions))
    values = {
        "categories": sorted(new_categories),
        "actions": sorted(a.value for a in new_actions),
        "data_from_ms": new_from,
        "data_to_ms": new_to,
        "granularity": new_granularity.value,
        "valid_until_ms": new_until,
        "version": current.version + 1,
        "updated_ms": now_ms,
    }
    conn.execute(update(consents).where(consents.c.id == consent_id).values(**values))
    consent = get_consent(conn, person_id, consent_id)
    _remember(conn, consent, "narrowed", now_ms)
    return consent


def revoke(conn: Connection, person_id: int, consent_id: int, *, now_ms: int) -> Consent:
    """Revoke a consent; it stops counting on the very next request. Logged as `consent.revoked`.

    Raises:
        NotFound: the person has no consent with this id.
        Conflict: it is already revoked.
    """
    rls.act_for(conn, person_id)
    audit.lock_chain(conn, person_id)
    current = get_consent(conn, person_id, consent_id, for_update=True)
    if current.status is ConsentStatus.REVOKED:
        raise Conflict(f"Consent {consent_id} is already revoked.")
    conn.execute(
        update(consents)
        .where(consents.c.id == consent_id)
        .values(
            status=ConsentStatus.REVOKED.value,
            revoked_ms=now_ms,
            version=current.version + 1,
            updated_ms=now_ms,
        )
    )
    consent = get_consent(conn, person_id, consent_id)
    _remember(conn, consent, "revoked", now_ms)
    return consent


def get_consent(
    conn: Connection, person_id: int, consent_id: int, *, for_update: bool = False
) -> Consent:
    """The person's consent with this id.

    Raises:
        NotFound: no such consent of this person (another person's consent is not found either).
    """
    rls.act_for(conn, person_id)
    if not 0 < consent_id < 2**31:  # beyond the column's range: no such consent, not an overflow
        raise NotFound(f"You have no consent with id {consent_id}.")
    query = select(consents).where(consents.c.id == consent_id, consents.c.person_id == person_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(
            f"You have no consent with id {consent_id}.", hint="See `healthpod consent list`."
        )
    return _consent(row)


def list_consents(
    conn: Connection, person_id: int, *, actor_id: int | None = None
) -> list[Consent]:
    """Every consent of the person (revoked and expired included), newest first."""
    rls.act_for(conn, person_id)
    query = select(consents).where(consents.c.person_id == person_id)
    if actor_id is not None:
        query = query.where(consents.c.actor_id == actor_id)
    return [_consent(row) for row in conn.execute(query.order_by(consents.c.id.desc())).mappings()]


def consents_for(conn: Connection, person_id: int, actor_id: int) -> list[Consent]:
    """The current state of the consents `decide` weighs for one request (the hot path).

    Revoked ones, and those of a disabled actor (marked), are kept so the decision can say why
    they do not count. Driver SQL, because building the statement with SQLAlchemy Core cost
    more than running it.
    """
    rls.act_for(conn, person_id)
    statement = _CONSENTS_FOR[conn.dialect.name]
    rows = conn.exec_driver_sql(statement, {"person_id": person_id, "actor_id": actor_id})
    found = []
    for row in rows:
        consent = _consent(dict(zip(_CONSENT_COLUMNS, row[:-1], strict=True)))
        found.append(replace(consent, actor_disabled=row[-1] is not None))
    return found


def consents_for_cohort(
    conn: Connection, person_ids: Sequence[int], actor_id: int
) -> dict[int, list[Consent]]:
    """`consents_for` of many persons and one actor in one query (a study's cohort), under
    row-level security's `cohort` scope; a person with no consent gets an empty list."""
    found: dict[int, list[Consent]] = {int(p): [] for p in person_ids}
    ids = sorted(found)
    if not ids:
        return found
    with rls.scoped(conn, "cohort"):
        rows = conn.exec_driver_sql(
            _CONSENTS_FOR_COHORT[conn.dialect.name],
            {"ids": ids_value(conn.dialect.name, ids), "actor_id": actor_id},
        ).all()
    sets: dict[Any, frozenset[Any]] = {}  # a cohort's consents share their JSON texts
    for row in rows:
        consent = _consent(dict(zip(_CONSENT_COLUMNS, row[:-1], strict=True)), sets)
        if row[-1] is not None:
            consent = replace(consent, actor_disabled=True)
        found[consent.person_id].append(consent)
    return found


_CONSENT_COLUMNS = (
    "id", "person_id", "actor_id", "purpose", "categories", "actions", "data_from_ms",
    "data_to_ms", "granularity", "valid_from_ms", "valid_until_ms", "revoked_ms", "status",
    "created_ms", "updated_ms", "version",
)  # fmt: skip
_SELECT_CONSENTS = (
    "SELECT c.id, c.person_id, c.actor_id, c.purpose, c.categories, c.actions, c.data_from_ms, "
    "c.data_to_ms, c.granularity, c.valid_from_ms, c.valid_until_ms, c.revoked_ms, c.status, "
    "c.created_ms, c.updated_ms, c.version, a.disabled_ms "
    "FROM consents AS c JOIN actors AS a ON a.id = c.actor_id "
)
_CONSENTS_FOR = {
    # In the order they were given, as for a cohort: a refusal's reason lists them so.
    "sqlite": _SELECT_CONSENTS
    + "WHERE c.person_id = :person_id AND c.actor_id = :actor_id ORDER BY c.id",
    "postgresql": _SELECT_CONSENTS
    + "WHERE c.person_id = %(person_id)s AND c.actor_id = %(actor_id)s ORDER BY c.id",
}
_AS_TEXT = "CAST(c.categories AS text), CAST(c.actions AS text),"
_CONSENTS_FOR_COHORT = {  # constant text, no input
    "sqlite": _SELECT_CONSENTS  # noqa: S608
    + "WHERE c.person_id IN (SELECT value FROM json_each(:ids)) AND c.actor_id = :actor_id "
    "ORDER BY c.person_id, c.id",
    # The JSON columns as text: ten thousand equal texts are then parsed once (`_consent`).
    "postgresql": _SELECT_CONSENTS.replace("c.categories, c.actions,", _AS_TEXT)
    + "WHERE c.person_id = ANY(CAST(%(ids)s AS BIGINT[])) AND c.actor_id = %(actor_id)s "
    "ORDER BY c.person_id, c.id",
}


def changes(conn: Connection, person_id: int, consent_id: int) -> list[ConsentChange]:
    """Every version of the person's consent, oldest first.

    Raises:
        NotFound: no such consent of this person.
    """
    rls.act_for(conn, person_id)
    get_consent(conn, person_id, consent_id)
    rows = conn.execute(
        select(history)
        .where(history.c.consent_id == consent_id, history.c.person_id == person_id)
        .order_by(history.c.version)
    ).mappings()
    return [
        ConsentChange(
            consent_id=consent_id,
            version=int(row["version"]),
            change=row["change"],
            at_ms=int(row["at_ms"]),
            consent=_consent(row["state"]),
        )
        for row in rows
    ]


def _check_scope(scope: Scope) -> None:
    if not scope.categories:
        raise InvalidRequest("A consent must cover at least one data category.")
    unknown = scope.categories - ALL_CATEGORIES
    if unknown:
        raise InvalidRequest(
            f"Unknown data category {', '.join(sorted(unknown))}.",
            hint="Use one of: " + ", ".join(sorted(ALL_CATEGORIES)) + ".",
        )
    if not scope.actions:
        raise InvalidRequest("A consent must allow reading or writing.")
    if (
        scope.data_from_ms is not None
        and scope.data_to_ms is not None
        and scope.data_from_ms >= scope.data_to_ms
    ):
        raise InvalidRequest("The consent's data window is empty: its start is not before its end.")


def _remember(
    conn: Connection, consent: Consent, change: str, now_ms: int, *, actor_name: str | None = None
) -> None:
    state = consent_json(consent)
    conn.execute(
        insert(history).values(
            person_id=consent.person_id,
            consent_id=consent.id,
            version=consent.version,
            change=change,
            at_ms=now_ms,
            state=state,
        )
    )
    details: dict[str, Any] = {"version": consent.version, "scope": consent.summary()}
    if actor_name is not None:
        details["actor"] = actor_name
    audit.record(
        conn,
        consent.person_id,
        consent.actor_id,
        f"consent.{change}",
        "ok",
        details,
        now_ms=now_ms,
        reason=f"consent {consent.id} {change}: {consent.summary()}",
        consent_id=consent.id,
        done_by=audit.DoneBy.PERSON,  # the person's own act, about this actor
    )


def consent_json(consent: Consent) -> dict[str, Any]:
    """The consent as plain JSON (what the API returns and the history keeps)."""
    return {
        "id": consent.id,
        "person_id": consent.person_id,
        "actor_id": consent.actor_id,
        "purpose": consent.purpose,
        "categories": sorted(consent.categories),
        "actions": sorted(a.value for a in consent.actions),
        "data_from_ms": consent.data_from_ms,
        "data_to_ms": consent.data_to_ms,
        "granularity": consent.granularity.value,
        "valid_from_ms": consent.valid_from_ms,
        "valid_until_ms": consent.valid_until_ms,
        "revoked_ms": consent.revoked_ms,
        "status": consent.status.value,
        "version": consent.version,
        "created_ms": consent.created_ms,
        "updated_ms": consent.updated_ms,
    }


def _consent(row: Mapping[Any, Any], sets: dict[Any, frozenset[Any]] | None = None) -> Consent:
    """The consent of a row; `sets` keeps the categories and actions already read from the
    same JSON text (a cohort's consents), so each distinct text is parsed once."""
    if sets is None:
        categories = frozenset(_json(row["categories"]))
        actions = frozenset(Action(a) for a in _json(row["actions"]))
    else:
        categories = _parsed_set(sets, row["categories"], str)
        actions = _parsed_set(sets, ("actions", row["actions"]), Action)
    return Consent(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        actor_id=int(row["actor_id"]),
        purpose=row["purpose"],
        categories=categories,
        actions=actions,
        data_from_ms=row["data_from_ms"],
        data_to_ms=row["data_to_ms"],
        granularity=Granularity(row["granularity"]),
        valid_from_ms=int(row["valid_from_ms"]),
        valid_until_ms=row["valid_until_ms"],
        revoked_ms=row["revoked_ms"],
        status=ConsentStatus(row["status"]),
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
        version=int(row["version"]),
    )


def _parsed_set(sets: dict[Any, frozenset[Any]], key: Any, kind: Any) -> frozenset[Any]:
    found = sets.get(key)
    if found is None:
        text = key[1] if isinstance(key, tuple) else key
        found = sets[key] = frozenset(kind(v) for v in _json(text))
    return found


def _json(value: Any) -> Any:
    # Driver SQL on SQLite gives JSON columns as text; SQLAlchemy and psycopg give them parsed.
    return json.loads(value) if isinstance(value, str) else value
