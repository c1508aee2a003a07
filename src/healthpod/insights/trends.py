"""Trends: the Theil-Sen slope of a daily series, with Kendall's tau as its significance test.

Theil-Sen takes the median of the slopes between all pairs of days, so a few odd days (a party,
a broken scale) do not tilt it. Missing days are left out, not filled with zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from scipy import stats as scipy_stats

PERIODS = (30, 90, 365)
MIN_DAYS = 10
SIGNIFICANT_P = 0.05


@dataclass(frozen=True, slots=True)
class Trend:
    days: int  # length of the period
    points: int  # days with data in it
    slope_per_day: float
    low_per_day: float  # 95 % confidence interval of the slope
    high_per_day: float
    p_value: float
    first: date
    last: date

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANT_P

    @property
    def direction(self) -> str:
        if not self.significant:
            return "steady"
        return "rising" if self.slope_per_day > 0 else "falling"

    def to_json(self, unit: str) -> dict[str, object]:
        def per(value: float, days: int) -> dict[str, object]:
            return {"value": round(value * days, 4), "unit": unit}

        return {
            "period_days": self.days,
            "days_with_data": self.points,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "slope_per_week": per(self.slope_per_day, 7),
            "slope_per_week_95ci": [per(self.low_per_day, 7), per(self.high_per_day, 7)],
            "p_value": round(self.p_value, 5),
            "direction": self.direction,
        }


def trend(
    values: Mapping[date, float], end: date, days: int, *, min_points: int = MIN_DAYS
) -> Trend | None:
    """The trend over the `days` days up to and including `end`, or None with too few points."""
    start = end - timedelta(days=days - 1)
    chosen = sorted(d for d in values if start <= d <= end)
    if len(chosen) < min_points:
        return None
    x = np.array([(d - start).days for d in chosen], dtype=float)
    y = np.array([values[d] for d in chosen], dtype=float)
    if np.ptp(y) == 0:
        return Trend(days, len(chosen), 0.0, 0.0, 0.0, 1.0, chosen[0], chosen[-1])
    slope, _intercept, low, high = scipy_stats.theilslopes(y, x, alpha=0.95)
    p_value = float(scipy_stats.kendalltau(x, y).pvalue)
    return Trend(
        days, len(chosen), float(slope), float(low), float(high), p_value, chosen[0], chosen[-1]
    )
