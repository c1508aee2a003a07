"""A study's answer per group: per calendar month, per 10-year age band or per sex.

The privacy unit stays the person. Grouping by age band or sex puts each person in exactly
one group, so every group is answered with the whole epsilon (parallel composition: one
person changes one group's answer only) and each person is charged that epsilon once.
Grouping by month lets one person be in every month of the study's data period, so the
epsilon is split evenly over all the months of that period (a number fixed by the study, not
by the data: sequential composition), each month answered with its share, over each person's
mean daily value in that month; a person is charged the share for each month they are in,
never more than the epsilon asked.

A group with fewer persons than the study's minimum cohort is suppressed: it is named as
suppressed, with no answer, and its persons are not charged for it. (Whether a group is
suppressed follows from its exact size, as the answer's `cohort` does: that much is not
differentially private, as in the ungrouped answer.)

The age band is the person's age in whole years on the first day of the study's data period,
from the birth date in their pod, in bands of ten years ("30-39"); a person with no birth date
is in the group "unknown". Sex is the one stored in the pod (female, male, other), or
"unknown". Neither leaves the pod: only the group's noisy answer does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

GROUPINGS = ("month", "age-band", "sex")
# The groupings read from the person's own record inside the pod (not from the data the study
# is given): what the consent a person joins a study with names, since identity is not in it.
TRAITS = ("age-band", "sex")
SEXES = ("female", "male", "other")


class Answered(Protocol):
    @property
    def value(self) -> float: ...
    @property
    def epsilon_spent(self) -> float: ...
    @property
    def cohort(self) -> int: ...
    def document(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Group:
    label: str
    persons: tuple[int, ...]
    answer: Answered | None  # None: suppressed (under the minimum cohort)


@dataclass(frozen=True, slots=True)
class Grouped:
    group_by: str
    groups: tuple[Group, ...]
    epsilon_per_group: float
    epsilon_spent: float  # the most any one person was charged
    cohort: int  # persons in any released group

    @property
    def value(self) -> float:
        """What the release's row keeps: the first released group's value (0 without one)."""
        released = [g.answer.value for g in self.groups if g.answer is not None]
        return released[0] if released else 0.0

    def document(self) -> dict[str, Any]:
        return {
            "group_by": self.group_by,
            "epsilon_spent": self.epsilon_spent,
            "epsilon_per_group": self.epsilon_per_group,
            "cohort": self.cohort,
            "groups": [
                {"group": g.label, **g.answer.document()}
                for g in self.groups
                if g.answer is not None
            ],
            "suppressed": [g.label for g in self.groups if g.answer is None],
        }

    def charges(self) -> dict[int, float]:
        """What each person in a released group is charged: the share for each group."""
        charged: dict[int, float] = {}
        for g in self.groups:
            if g.answer is not None:
                for p in g.persons:
                    charged[p] = charged.get(p, 0.0) + self.epsilon_per_group
        return charged

    def summary(self) -> str:
        lines = [
            f"{g.label}: " + (_short(g.answer) if g.answer is not None else "suppressed")
            for g in self.groups
        ]
        head = (
            f"per {self.group_by}, epsilon {self.epsilon_per_group:.4g} a group "
            f"(at most {self.epsilon_spent:.4g} a person):"
        )
        return "\n".join([head, *("  " + line for line in lines)])


def _short(answer: Answered) -> str:
    document = answer.document()
    value = document["value"]
    shown = ", ".join(f"{v:.6g}" for v in value) if isinstance(value, list) else f"{value:.6g}"
    return f"{shown} over {answer.cohort} people"


def months(data_from_ms: int, data_to_ms: int) -> list[str]:
    """Every calendar month (YYYY-MM) the data period [from, to) touches."""
    first = datetime.fromtimestamp(data_from_ms / 1000, UTC).date()
    last = datetime.fromtimestamp((data_to_ms - 1) / 1000, UTC).date()
    found = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def by_month(
    days: Mapping[int, Sequence[tuple[date, float]]], bounds: tuple[float, float]
) -> dict[str, dict[int, float]]:
    """month → person → the person's mean daily value that month (days clamped to bounds)."""
    sums: dict[str, dict[int, list[float]]] = {}
    for person_id, rows in days.items():
        for day, value in rows:
            clamped = min(max(value, bounds[0]), bounds[1])
            sums.setdefault(day.strftime("%Y-%m"), {}).setdefault(person_id, []).append(clamped)
    return {
        month: {p: sum(v) / len(v) for p, v in persons.items()} for month, persons in sums.items()
    }


def band(decade: int | None) -> str:
    """The 10-year band ("30-39") of an age's decade, or "unknown"."""
    return "unknown" if decade is None else f"{decade}-{decade + 9}"


def sex_group(sex: str | None) -> str:
    return sex if sex in SEXES else "unknown"


def answer_groups(
    group_by: str,
    members: Mapping[str, Mapping[int, float]],
    labels: Sequence[str],
    *,
    epsilon: float,
    min_cohort: int,
    answer: Callable[[float, list[float]], Answered],
) -> Grouped:
    """Each group's answer (`answer(epsilon, values)`), or its suppression; the epsilon is
    split over `labels` (the months of the period) when grouping by month."""
    share = epsilon / len(labels) if group_by == "month" else epsilon
    groups = []
    for label in labels:
        persons = members.get(label, {})
        ids = tuple(sorted(persons))
        if len(ids) < min_cohort:
            groups.append(Group(label, ids, None))
            continue
        groups.append(Group(label, ids, answer(share, [persons[p] for p in ids])))
    made = Grouped(group_by, tuple(groups), share, 0.0, 0)
    charged = made.charges()
    return Grouped(group_by, made.groups, share, max(charged.values(), default=0.0), len(charged))
