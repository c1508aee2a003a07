"""The full insights run: findings, plus each key type's baseline and trends over 30/90/365 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from healthpod.insights.baselines import baseline
from healthpod.insights.findings import (
    NOT_A_DIAGNOSIS,
    Context,
    Finding,
    findings,
    last_day_with_data,
)
from healthpod.insights.measures import stored_measures
from healthpod.insights.trends import PERIODS, trend
from healthpod.store.person_data import Writer

# The types whose normal and direction a person most often asks about.
KEY_TYPES = (
    "steps",
    "active_energy",
    "exercise_time",
    "resting_heart_rate",
    "hrv_sdnn",
    "body_mass",
    "sleep_analysis",
)


@dataclass(frozen=True, slots=True)
class Report:
    as_of: date | None
    findings: list[Finding]
    types: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "findings": [f.to_json() for f in self.findings],
            "types": self.types,
            "note": NOT_A_DIAGNOSIS,
        }


def build(write: Writer, as_of: date | None = None) -> Report:
    """Findings, and for each key type with data: baseline and 30/90/365-day trends."""
    as_of = as_of or last_day_with_data(write)
    if as_of is None:
        return Report(None, [], {})
    measures = stored_measures(write)
    ctx = Context(write, as_of)
    types: dict[str, dict[str, Any]] = {}
    for code in KEY_TYPES:
        if code not in measures:
            continue
        values = ctx.days(code)
        if not values:
            continue
        unit = "min" if code == "sleep_analysis" else measures[code].unit
        base = baseline(values, as_of + timedelta(days=1))
        trends = [t for days in PERIODS if (t := trend(values, as_of, days)) is not None]
        types[code] = {
            "unit": unit,
            "baseline": base.to_json(unit) if base else None,
            "trends": [t.to_json(unit) for t in trends],
        }
    return Report(as_of, findings(write, as_of), types)
