"""Acting for another person: whether a delegation is live, decided at each request.

A person lets another account act for them (a delegate, role `view` or `manage`, until a day
or until revoked); a guardian acts for a child until the child reaches the age the region
sets (`Settings.guardian_age_limit`, 13 by default, as 1177 in Sweden). Nothing has to run
for a guardianship to end: each request compares the instant with the child's birthday at
that age (local midnight in the child's time zone, UTC when none is set), so the first
request on the birthday is refused. A child born on 29 February reaches the age on
28 February in a year that has no 29th (the earlier day: the young person decides sooner).

What a role allows:

| action | view | manage |
| --- | --- | --- |
| read the person's data | yes | yes |
| import into the pod | no | yes |
| manage sharing (consents, share links) | no | yes |
| give a delegation further | no | no |

The decision is pure (no database); `consent.access.open_for_delegate` loads the rows,
decides, logs the verdict in the person's log and opens the door.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from healthpod.consent.model import ALL_CATEGORIES, Action, Decision, Granularity, Scope, format_day
from healthpod.store.delegations import Delegation, Party

DEFAULT_AGE_LIMIT = 13


class Role(StrEnum):
    VIEW = "view"
    MANAGE = "manage"


class Kind(StrEnum):
    DELEGATE = "delegate"
    GUARDIAN = "guardian"


class DelegateAction(StrEnum):
    """What a delegate asks to do for the person."""

    READ = "read"
    IMPORT = "import"
    SHARE = "share"  # grant or revoke consents, make or revoke share links
    DELEGATE = "delegate"  # give a delegation further: no role allows it


ALLOWED: dict[Role, frozenset[DelegateAction]] = {
    Role.VIEW: frozenset({DelegateAction.READ}),
    Role.MANAGE: frozenset({DelegateAction.READ, DelegateAction.IMPORT, DelegateAction.SHARE}),
}


class State(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    AGED_OUT = "aged-out"  # a guardianship past the child's birthday at the age limit
    NO_BIRTH_DATE = "no-birth-date"  # a guardianship cannot be decided without one


def age_limit_day(born: date, age: int) -> date:
    """The child's birthday at `age` (28 February for a child born on 29 February, when the
    year has no 29th)."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return date(born.year + age, 2, 28)


def midnight_ms(day: date, zone: str | None) -> int:
    """The start of `day` in `zone` (UTC when None or unknown), as epoch ms."""
    tz: tzinfo = UTC
    if zone:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = UTC
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return int(start.timestamp() * 1000)


def ends_ms(delegation: Delegation, person: Party, *, age_limit: int) -> int | None:
    """When the delegation ends by itself: its end date or, for a guardian, the child's
    birthday at the age limit (the earlier). None: it ends only when revoked."""
    ends = delegation.valid_until_ms
    if delegation.kind == Kind.GUARDIAN and person.birth_date is not None:
        aged = midnight_ms(age_limit_day(person.birth_date, age_limit), person.time_zone)
        ends = aged if ends is None else min(ends, aged)
    return ends


def state_at(delegation: Delegation, person: Party, *, now_ms: int, age_limit: int) -> State:
    if delegation.revoked_ms is not None and delegation.revoked_ms <= now_ms:
        return State.REVOKED
    if delegation.kind == Kind.GUARDIAN:
        if person.birth_date is None:
            return State.NO_BIRTH_DATE
        aged = midnight_ms(age_limit_day(person.birth_date, age_limit), person.time_zone)
        if now_ms >= aged:
            return State.AGED_OUT
    if delegation.valid_until_ms is not None and now_ms >= delegation.valid_until_ms:
        return State.EXPIRED
    return State.ACTIVE


def scope_for(role: Role) -> Scope:
    """What a live delegation lets the store return: everything the person has (but what
    they marked "only me"), raw; writing only for `manage`."""
    actions = frozenset({Action.READ})
    if role is Role.MANAGE:
        actions = frozenset({Action.READ, Action.WRITE})
    return Scope(categories=ALL_CATEGORIES, granularity=Granularity.RAW, actions=actions)


def decide(
    delegations: Sequence[Delegation],
    *,
    person: Party,
    delegate_id: int,
    action: DelegateAction,
    now_ms: int,
    age_limit: int = DEFAULT_AGE_LIMIT,
) -> tuple[Decision, Delegation | None]:
    """Allow `action` only if a live delegation from `person` to `delegate_id` allows it; the
    decision's reason says which one or why not. Returns the delegation it rests on too."""
    mine = [
        d for d in delegations if d.person_id == person.person_id and d.delegate_id == delegate_id
    ]
    if delegate_id == person.person_id:
        return Decision(False, "a person does not act for themselves through a delegation"), None
    if not mine:
        return Decision(False, f"person {delegate_id} may not act for this person"), None
    why_not: list[str] = []
    best: Delegation | None = None
    for d in mine:
        state = state_at(d, person, now_ms=now_ms, age_limit=age_limit)
        if state is State.REVOKED:
            why_not.append(f"delegation {d.id} was revoked on {format_day(d.revoked_ms)}")
        elif state is State.EXPIRED:
            why_not.append(f"delegation {d.id} ended on {format_day(d.valid_until_ms)}")
        elif state is State.AGED_OUT:
            why_not.append(
                f"guardianship {d.id} ended when the child turned {age_limit}: "
                "from then the young person decides"
            )
        elif state is State.NO_BIRTH_DATE:
            why_not.append(f"guardianship {d.id} needs the child's birth date")
        elif action not in ALLOWED[Role(d.role)]:
            why_not.append(f"delegation {d.id} ({d.role}) does not allow {action.value}")
        elif best is None or (d.role == Role.MANAGE and best.role != Role.MANAGE):
            best = d
    if best is None:
        return Decision(False, "; ".join(why_not)), None
    what = "guardianship" if best.kind == Kind.GUARDIAN else "delegation"
    until = ends_ms(best, person, age_limit=age_limit)
    reason = f"{what} {best.id} ({best.role}): {action.value}"
    if until is not None:
        reason += f"; until {format_day(until)}"
    return Decision(True, reason, scope=scope_for(Role(best.role))), best
