"""A person's own normal: robust rolling baselines (median and MAD) over previous days.

The baseline of a day is the median of the previous `window` days that have data (the day itself
is never part of its own baseline), with the median absolute deviation scaled to be comparable
with a standard deviation (x 1.4826). Missing days are missing, not zero: a baseline needs at
least `min_days` days with data in its window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

WINDOW_DAYS = 60
MIN_DAYS = 14
MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True)
class Baseline:
    median: float
    spread: float  # MAD x 1.4826, floored so a very steady person is not flagged for noise
    days: int  # days with data behind it
    first: date
    last: date

    def z(self, value: float) -> float:
        """How many spreads `value` lies from the median (positive: above)."""
        return (value - self.median) / self.spread

    def to_json(self, unit: str) -> dict[str, object]:
        return {
            "median": {"value": round(self.median, 3), "unit": unit},
            "spread": {"value": round(self.spread, 3), "unit": unit},
            "days": self.days,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
        }


def baseline(
    values: Mapping[date, float],
    before: date,
    *,
    window: int = WINDOW_DAYS,
    min_days: int = MIN_DAYS,
    min_spread: float = 0.0,
) -> Baseline | None:
    """The baseline for `before` from the days [before - window, before), or None if too few."""
    start = before - timedelta(days=window)
    days = sorted(d for d in values if start <= d < before)
    if len(days) < min_days:
        return None
    series = np.array([values[d] for d in days], dtype=float)
    median = float(np.median(series))
    mad = float(np.median(np.abs(series - median))) * MAD_TO_SD
    return Baseline(median, max(mad, min_spread, 1e-9), len(days), days[0], days[-1])
