"""Giving, listing and revoking delegations: the person's own acts, each logged in their log.

    given = delegates.add(engine, person_id, "erik", role=Role.VIEW, until_ms=None, now_ms=now)
    views = delegates.listing(conn, person_id, now_ms=now, age_limit=13)
    delegates.revoke(engine, person_id, given.id, now_ms=now)

Only the person gives a delegation (a delegate never gives one further: the web app refuses
it, and the refusal is logged); a guardianship is set up by the pod's operator for a child
(`healthpod delegate add --guardian`), who needs a birth date. Whether a delegation lets a
request through is decided at that request (`consent.access.open_for_delegate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from healthpod.consent import audit
from healthpod.consent.delegation import (
    DEFAULT_AGE_LIMIT,
    Kind,
    Role,
    State,
    age_limit_day,
    ends_ms,
    midnight_ms,
    state_at,
)
from healthpod.consent.model import format_day
from healthpod.errors import Conflict, InvalidRequest, NotFound
from healthpod.store import delegations, notifications
from healthpod.store.delegations import Delegation, Party


@dataclass(frozen=True, slots=True)
class DelegationView:
    """One delegation as a listing shows it to one of its two persons."""

    delegation: Delegation
    given: bool  # True: the person gave it (the other is the delegate); False: they hold it
    other: Party
    state: State
    ends_ms: int | None

    @property
    def live(self) -> bool:
        return self.state is State.ACTIVE

    def as_json(self) -> dict[str, Any]:
        return {
            **self.delegation.as_json(),
            "direction": "given" if self.given else "held",
            "other": self.other.shown_name,
            "state": self.state.value,
            # The last day it works (it ends at the start of the next one).
            "last_day": None if self.ends_ms is None else format_day(self.ends_ms - 1),
        }


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidRequest(
            f"{role[:20]!r} is not a role.", hint="Use view (read only) or manage."
        ) from None


def find_delegate(conn: Connection, username: str) -> Party:
    """The person behind an account's username.

    Raises:
        NotFound: no account has this username.
    """
    from healthpod import accounts

    name = username.strip().casefold()
    if not name:
        raise InvalidRequest("Give the username of the person who will act for you.")
    try:
        account = accounts.find_account(conn, name)
    except NotFound:
        raise NotFound(
            f"There is no account called {name[:100]!r} in this pod.",
            hint="Ask them for the username they log in with.",
        ) from None
    found = delegations.party(conn, account.person_id)
    assert found is not None
    return found


def add(
    engine: Engine,
    person_id: int,
    username: str,
    *,
    role: str,
    until_ms: int | None,
    now_ms: int,
    guardian: bool = False,
    born: date | None = None,
    age_limit: int = DEFAULT_AGE_LIMIT,
) -> DelegationView:
    """Let the account `username` act for the person, in `role`, until `until_ms` (or until
    revoked); with `guardian`, as the guardian of a child until the age limit. Logged in the
    person's log.

    Raises:
        InvalidRequest: a bad role, an end in the past, the person themselves, a guardianship
            of a person without a birth date or past the age limit.
        NotFound: no account called `username`.
        Conflict: this account already acts for the person.
    """
    chosen = _role(role)
    if until_ms is not None and until_ms <= now_ms:
        raise InvalidRequest(
            "The end date has passed.", hint="Give a day after today, or no end date."
        )
    from healthpod.consent.access import _one_writer  # one log writer at a time on SQLite

    with _one_writer(engine), engine.begin() as conn:
        slot = audit.reserve(conn, person_id)
        delegate = find_delegate(conn, username)
        if delegate.person_id == person_id:
            raise InvalidRequest(
                "You cannot delegate to yourself.",
                hint="Give the username of another person's account.",
            )
        person = delegations.party(conn, person_id)
        if person is None:
            raise NotFound("There is no such person in this pod.")
        if guardian:
            if born is not None:
                delegations.set_birth_date(conn, person_id, born)
                person = delegations.party(conn, person_id)
                assert person is not None
            if person.birth_date is None:
                raise InvalidRequest(
                    "A guardianship needs the child's birth date.",
                    hint="Give it with --born YYYY-MM-DD.",
                )
            limit_day = age_limit_day(person.birth_date, age_limit)
            if now_ms >= midnight_ms(limit_day, person.time_zone):
                raise InvalidRequest(
                    f"{person.shown_name} turned {age_limit} on {limit_day.isoformat()}: "
                    "a guardian no longer acts for them.",
                    hint="From that age the young person decides; they can add a delegate.",
                )
        for held in delegations.between(conn, person_id, delegate.person_id):
            if state_at(held, person, now_ms=now_ms, age_limit=age_limit) is State.ACTIVE:
                raise Conflict(
                    f"{delegate.shown_name} already acts for you (delegation {held.id}).",
                    hint="Revoke that delegation first to give another role.",
                )
        kind = Kind.GUARDIAN if guardian else Kind.DELEGATE
        made = delegations.add(
            conn,
            person_id,
            delegate.person_id,
            kind=kind.value,
            role=chosen.value,
            valid_until_ms=until_ms,
            now_ms=now_ms,
        )
        what = "guardian" if guardian else f"delegate ({chosen.value})"
        audit.record(
            conn,
            person_id,
            None,
            "delegation.granted",
            "ok",
            {"delegation": made.id, "delegate": delegate.shown_name, "role": chosen.value},
            now_ms=now_ms,
            reason=f"{delegate.shown_name} may act for this person as {what}",
            slot=slot,
            via=made.via,
        )
        _notify_granted(conn, made, person, delegate, now_ms=now_ms)
    return _view(made, True, delegate, person, now_ms=now_ms, age_limit=age_limit)


def revoke(engine: Engine, person_id: int, delegation_id: int, *, now_ms: int) -> Delegation:
    """Revoke a delegation the person gave; the next request by the delegate is refused.

    Raises:
        NotFound: the person gave no delegation with this id.
        Conflict: it was revoked already.
    """
    from healthpod.consent.access import _one_writer

    with _one_writer(engine), engine.begin() as conn:
        slot = audit.reserve(conn, person_id)
        found = delegations.get(conn, delegation_id)
        if found is None or found.person_id != person_id:
            raise NotFound(
                f"You gave no delegation with id {delegation_id}.",
                hint="See `healthpod delegate list`.",
            )
        if not delegations.revoke(conn, delegation_id, now_ms=now_ms):
            raise Conflict(f"Delegation {delegation_id} was revoked already.")
        delegate = delegations.party(conn, found.delegate_id)
        name = delegate.shown_name if delegate else str(found.delegate_id)
        audit.record(
            conn,
            person_id,
            None,
            "delegation.revoked",
            "ok",
            {"delegation": found.id, "delegate": name},
            now_ms=now_ms,
            reason=f"{name} may no longer act for this person",
            slot=slot,
            via=found.via,
        )
        updated = delegations.get(conn, delegation_id)
    assert updated is not None
    return updated


def listing(
    conn: Connection, person_id: int, *, now_ms: int, age_limit: int = DEFAULT_AGE_LIMIT
) -> list[DelegationView]:
    """Every delegation the person gave or holds, newest first, with its state now."""
    me = delegations.party(conn, person_id)
    if me is None:
        return []
    views = []
    for d in delegations.involving(conn, person_id):
        given = d.person_id == person_id
        other = delegations.party(conn, d.delegate_id if given else d.person_id)
        if other is None:
            continue
        acted_for = me if given else other
        views.append(_view(d, given, other, acted_for, now_ms=now_ms, age_limit=age_limit))
    return views


def given(
    conn: Connection,
    person_id: int,
    delegation_id: int,
    *,
    now_ms: int,
    age_limit: int = DEFAULT_AGE_LIMIT,
) -> DelegationView | None:
    """One delegation the person gave (its `other` is the delegate), or None if they gave
    none with this id."""
    for view in listing(conn, person_id, now_ms=now_ms, age_limit=age_limit):
        if view.given and view.delegation.id == delegation_id:
            return view
    return None


def acting_choices(
    conn: Connection, delegate_id: int, *, now_ms: int, age_limit: int = DEFAULT_AGE_LIMIT
) -> list[DelegationView]:
    """The live delegations a person holds: whom they may choose to act for."""
    return [
        v
        for v in listing(conn, delegate_id, now_ms=now_ms, age_limit=age_limit)
        if not v.given and v.live
    ]


def party(conn: Connection, person_id: int) -> Party | None:
    """A person as a delegation names them (their username when they have an account)."""
    return delegations.party(conn, person_id)


def holds_any(conn: Connection, delegate_id: int, person_id: int) -> bool:
    """Whether any delegation (live or not) names this delegate for this person."""
    return bool(delegations.between(conn, person_id, delegate_id))


def _view(
    d: Delegation, given: bool, other: Party, acted_for: Party, *, now_ms: int, age_limit: int
) -> DelegationView:
    return DelegationView(
        d,
        given,
        other,
        state_at(d, acted_for, now_ms=now_ms, age_limit=age_limit),
        ends_ms(d, acted_for, age_limit=age_limit),
    )


def _notify_granted(
    conn: Connection, made: Delegation, person: Party, delegate: Party, *, now_ms: int
) -> None:
    """Tell the delegate they may now act for the person."""
    notifications.add(
        conn,
        delegate.person_id,
        notifications.DELEGATION_GRANTED,
        {"person": person.shown_name, "role": made.role, "kind": made.kind},
        now_ms=now_ms,
    )
