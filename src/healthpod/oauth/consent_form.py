"""The consent screen's form: what an app asked for, and what the person chose to allow.

The form is pre-checked with everything the app asked for; the person can only take away
(drop categories or write access, limit the time window of the data, choose daily summaries
only, set an end date). Whatever the form says, nothing outside the request is granted.

Dates are the person's days: "from 2024-03-01" starts at midnight where they are, "to" and
"access ends on" include that whole day (they end at the next local midnight). Where they are
is the zone the web app shows their dates in (`web.localtime.person_zone`: the time zone they
set, or the offset of their latest data), and the form names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from healthpod.consent.model import Action, Granularity, Scope
from healthpod.errors import InvalidRequest
from healthpod.oauth.scopes import ScopeSet
from healthpod.web.labels import CATEGORIES


@dataclass(frozen=True, slots=True)
class Requested:
    """What an app's scopes reach, in the words of the consent screen."""

    categories: tuple[tuple[str, str], ...]  # (category, label), in reading order
    actions: frozenset[Action]

    @property
    def category_values(self) -> frozenset[str]:
        return frozenset(value for value, _ in self.categories)


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    scope: Scope
    valid_until_ms: int | None


def requested(scopes: ScopeSet) -> Requested:
    reach = {c.value for c in scopes.categories("r") | scopes.categories("c")}
    actions = set()
    if scopes.categories("r") or scopes.allows("Patient", "r"):
        actions.add(Action.READ)
    if scopes.categories("c"):
        actions.add(Action.WRITE)
    ordered = tuple((c, label) for c, label in CATEGORIES.items() if c in reach)
    return Requested(ordered, frozenset(actions))


def _day(fields: dict[str, str], name: str) -> date | None:
    value = fields.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{value!r} is not a date; use YYYY-MM-DD.") from None
    if day == date.max:  # its end, the next midnight, is past the last day a date can hold
        raise InvalidRequest(f"{value} is too far ahead.", hint="Leave the date empty for no end.")
    return day


def local_midnight_ms(day: date, zone: tzinfo) -> int:
    """The instant a day starts in a time zone, in epoch milliseconds."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def parse_choice(
    fields: Sequence[tuple[str, str]], asked: Requested, *, now_ms: int, zone: tzinfo = UTC
) -> ConsentChoice:
    """The consent the person chose, never more than was asked; its days are the person's
    days in `zone`.

    Raises:
        InvalidRequest: nothing left to allow, a bad date, or an end date in the past.
    """
    single = dict(fields)
    categories = frozenset(v for k, v in fields if k == "category") & asked.category_values
    actions = (
        frozenset(Action(v) for k, v in fields if k == "action" and v in ("read", "write"))
        & asked.actions
    )
    if not categories:
        raise InvalidRequest("Keep at least one kind of data checked, or choose Deny.")
    if not actions:
        raise InvalidRequest("Keep reading or writing checked, or choose Deny.")
    granularity = Granularity.DAILY if single.get("granularity") == "daily" else Granularity.RAW
    data_from, data_to = _day(single, "data_from"), _day(single, "data_to")
    if data_from and data_to and data_to < data_from:
        raise InvalidRequest("The data window ends before it starts.")

    def _ms(day: date) -> int:
        return local_midnight_ms(day, zone)

    until = _day(single, "valid_until")
    valid_until_ms = None if until is None else _ms(until + timedelta(days=1))
    if valid_until_ms is not None and valid_until_ms <= now_ms:
        raise InvalidRequest("The end date has already passed.")
    scope = Scope(
        categories=frozenset(categories),
        data_from_ms=None if data_from is None else _ms(data_from),
        data_to_ms=None if data_to is None else _ms(data_to + timedelta(days=1)),
        granularity=granularity,
        actions=actions,
    )
    return ConsentChoice(scope, valid_until_ms)
