"""Our daily totals beside the ActivitySummary values Apple computed for the same days.

Apple writes one `<ActivitySummary>` per day into an export (active energy, exercise minutes,
stand hours). Putting ours beside them checks the whole chain (import, local days, source
de-duplication) against Apple's own arithmetic on real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from healthpod.errors import InvalidRequest, NotFound
from healthpod.insights.stats import daily_summaries
from healthpod.store import samples
from healthpod.store.person_data import Writer

COLUMNS = {"active_energy": "active_energy_kcal", "exercise_time": "exercise_min"}


@dataclass(frozen=True, slots=True)
class DayCheck:
    day_on: date
    apple: float | None
    ours: float | None

    @property
    def difference(self) -> float | None:
        if self.apple is None or self.ours is None:
            return None
        return self.ours - self.apple

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day_on.isoformat(),
            "apple": self.apple,
            "ours": None if self.ours is None else round(self.ours, 3),
            "difference": None if self.difference is None else round(self.difference, 3),
        }


def compare(
    write: Writer,
    type_code: str,
    from_on: date | None = None,
    to_on: date | None = None,
) -> list[DayCheck]:
    """Per day with either value: Apple's ActivitySummary value and our daily total, for the
    local days from_on..to_on (both included; open-ended without them).

    Raises:
        InvalidRequest: the type has no ActivitySummary counterpart, or the range is empty.
        NotFound: neither side has any day in the range.
    """
    if from_on and to_on and from_on > to_on:
        raise InvalidRequest(
            f"The range {from_on} to {to_on} is empty: it ends before it starts.",
            hint="Give the earlier date first.",
        )
    column = COLUMNS.get(type_code)
    if column is None:
        raise InvalidRequest(
            f"Apple's activity summaries have no {type_code!r}.",
            hint=f"Compare one of: {', '.join(COLUMNS)}.",
        )
    apple = samples.activity_summary_values(write, column)
    ours = {s.day_on: s.value for s in daily_summaries(write, [type_code])}
    days = sorted(
        d
        for d in set(apple) | set(ours)
        if (from_on is None or d >= from_on) and (to_on is None or d <= to_on)
    )
    if not days:
        within = (
            ""
            if from_on is None and to_on is None
            else f" from {from_on or 'the start'} to {to_on or 'the end'}"
        )
        raise NotFound(
            f"Neither Apple's activity summaries nor the samples have {type_code}{within}."
        )
    return [DayCheck(d, apple.get(d), ours.get(d)) for d in days]
