"""Findings: a small, documented rule set that turns statistics into plain words.

Every rule compares the person with their own baseline or with a named public guideline, says
what it saw, the numbers, the period and the reference, and carries the same note: this is
wellness information, not a diagnosis. The rules and their thresholds are listed in
docs/insights.md; the `id` of each rule never changes.

All periods end on `as_of`: the last local day with data in the pod (so an export imported
months later still gets findings about its own last weeks), unless the caller gives another day.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from healthpod.insights import summaries
from healthpod.insights.baselines import baseline
from healthpod.insights.sources import source_names
from healthpod.insights.stats import (
    DailySummary,
    daily_summaries,
    daily_summaries_since,
    values_of,
)
from healthpod.insights.timefmt import day_number
from healthpod.insights.trends import trend
from healthpod.store import daily_summaries as daily_rows
from healthpod.store.person_data import Writer

NOT_A_DIAGNOSIS = (
    "This is wellness information from your own data, not a diagnosis. "
    "If you are worried about your health, talk to a doctor or nurse."
)

WHO_ACTIVITY = (
    "WHO guidelines on physical activity and sedentary behaviour (2020): adults 150-300 minutes "
    "of moderate-intensity activity a week"
)
SLEEP_GUIDE = (
    "AASM/SRS consensus (2015) and National Sleep Foundation (2015): adults 7-9 hours a night"
)
ESC_HOME_BP = (
    "2024 ESC Guidelines for elevated blood pressure and hypertension, with the ESH home "
    "thresholds: home average below 120/70 mmHg non-elevated, 120/70 to 134/84 elevated, "
    "135/85 or more in the hypertension range"
)


class Severity(StrEnum):
    INFO = "info"
    NOTICE = "notice"
    ATTENTION = "attention"


@dataclass(frozen=True, slots=True)
class Finding:
    id: str  # the rule's stable id
    severity: Severity
    title: str
    text: str  # what was seen, in plain words
    numbers: dict[str, tuple[float, str]]  # name -> (value, unit)
    period: tuple[date, date]
    reference: dict[str, str]  # {"kind": "own-baseline"|"guideline", "name": ...}
    data: str  # link to the statistics behind it
    note: str = NOT_A_DIAGNOSIS
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity.value,
            "title": self.title,
            "text": self.text,
            "numbers": {k: {"value": round(v, 2), "unit": u} for k, (v, u) in self.numbers.items()},
            "period": {"from": self.period[0].isoformat(), "to": self.period[1].isoformat()},
            "reference": self.reference,
            "data": self.data,
            "note": self.note,
            **self.extra,
        }


def data_link(type_code: str, start: date, end: date, by: str = "day") -> str:
    query = urlencode({"by": by, "from": start.isoformat(), "to": end.isoformat()})
    return f"/api/insights/stats/{type_code}?{query}"


LOOKBACK_DAYS = 400  # how far back a rule's baseline may look
DAY_MS = 86_400_000
# The types the rules read as daily values (`Context.days`), over the whole lookback.
BASELINE_TYPES = ("resting_heart_rate", "hrv_sdnn", "exercise_time", "body_mass")
BP_TYPES = ("blood_pressure_systolic", "blood_pressure_diastolic")
NIGHTS = 14  # sleep rules: the last two weeks


@dataclass
class Context:
    data: Writer
    as_of: date
    _cache: dict[str, dict[date, float]] = field(default_factory=dict)
    _rows: list[DailySummary] = field(default_factory=list)  # read ahead (`read_ahead`)
    _since: dict[str, int] = field(default_factory=dict)  # code -> from_ms read ahead

    def read_ahead(self) -> None:
        """Read the daily rows every rule asks for in one query instead of one per rule."""
        windows = dict.fromkeys(BASELINE_TYPES, self._lookback_ms(LOOKBACK_DAYS))
        windows["sleep_analysis"] = _nights_from_ms(self.as_of)
        windows |= dict.fromkeys(BP_TYPES, _bp_from_ms(self.as_of))
        self._rows = daily_summaries_since(self.data, windows)
        self._since = windows

    def summaries(self, type_codes: list[str], from_ms: int) -> list[DailySummary]:
        """`stats.daily_summaries(data, type_codes, from_ms)`, from what was read ahead when
        it covers them."""
        if all(self._since.get(c, from_ms + 1) <= from_ms for c in type_codes):
            wanted = set(type_codes)
            return [
                r
                for r in self._rows
                if r.type_code in wanted and r.first_ms is not None and r.first_ms >= from_ms
            ]
        return daily_summaries(self.data, type_codes, from_ms)

    def days(self, type_code: str, lookback: int = LOOKBACK_DAYS) -> dict[date, float]:
        """Daily values of a type over the last `lookback` days up to as_of."""
        if type_code not in self._cache:
            values = values_of(self.summaries([type_code], self._lookback_ms(lookback)))
            self._cache[type_code] = {d: v for d, v in values.items() if d <= self.as_of}
        return self._cache[type_code]

    def _lookback_ms(self, days: int) -> int:
        return (day_number(self.as_of) - days) * DAY_MS


def _nights_from_ms(as_of: date, nights: int = NIGHTS) -> int:
    return (day_number(as_of) - nights - 1) * DAY_MS


def _bp_start(as_of: date) -> date:
    return as_of - timedelta(days=27)


def _bp_from_ms(as_of: date) -> int:
    return (day_number(_bp_start(as_of)) - 1) * DAY_MS


def _consecutive_above(ctx: Context, code: str, sign: int) -> tuple[list[date], Any]:
    """Days at the end of the series beyond 2 robust SDs of each day's own baseline."""
    values = ctx.days(code)
    run: list[date] = []
    last_base = None
    for day in sorted(values, reverse=True)[:14]:
        base = baseline(values, day, min_spread=1.0 if code == "resting_heart_rate" else 0.0)
        if base is None or sign * base.z(values[day]) <= 2.0:
            break
        if run and (run[-1] - day).days != 1:
            break
        run.append(day)
        last_base = last_base or base
    return sorted(run), last_base


def resting_heart_rate(ctx: Context) -> Finding | None:
    """Resting heart rate above the personal baseline for two or more days in a row."""
    run, base = _consecutive_above(ctx, "resting_heart_rate", +1)
    if len(run) < 2 or base is None:
        return None
    values = ctx.days("resting_heart_rate")
    latest = max(values)
    if (ctx.as_of - latest).days > 1 or run[-1] != latest:
        return None
    mean = statistics.fmean(values[d] for d in run)
    return Finding(
        "resting-heart-rate-above-baseline",
        Severity.ATTENTION if len(run) >= 4 else Severity.NOTICE,
        "Resting heart rate above your normal",
        f"Your resting heart rate has been above your usual range for {len(run)} days in a row "
        f"(on average {mean:.0f} bpm against your normal {base.median:.0f} bpm). This often "
        "follows a hard training block, short sleep, alcohol, stress or a coming cold.",
        {
            "days_in_a_row": (len(run), "d"),
            "mean": (mean, "/min"),
            "baseline_median": (base.median, "/min"),
            "baseline_spread": (base.spread, "/min"),
        },
        (run[0], run[-1]),
        {
            "kind": "own-baseline",
            "name": f"median +/- 2 x robust SD of the previous 60 days ({base.days} days)",
        },
        data_link("resting_heart_rate", run[0] - timedelta(days=60), run[-1]),
    )


def heart_rate_variability(ctx: Context) -> Finding | None:
    """HRV (SDNN) of the last 7 days below the personal baseline."""
    values = ctx.days("hrv_sdnn")
    end = ctx.as_of
    week = [values[d] for d in values if end - timedelta(days=6) <= d <= end]
    if len(week) < 3:
        return None
    base = baseline(values, end - timedelta(days=6))
    if base is None:
        return None
    mean = statistics.fmean(week)
    z = base.z(mean)
    if z >= -1.5:
        return None
    return Finding(
        "hrv-below-baseline",
        Severity.ATTENTION if z < -3 else Severity.NOTICE,
        "Heart rate variability below your normal",
        f"Your heart rate variability this week averaged {mean:.0f} ms, below your usual "
        f"{base.median:.0f} ms. Lower HRV often goes with strain, poor sleep or illness.",
        {
            "mean_7d": (mean, "ms"),
            "baseline_median": (base.median, "ms"),
            "robust_z": (z, "1"),
        },
        (end - timedelta(days=6), end),
        {
            "kind": "own-baseline",
            "name": f"median of the 60 days before ({base.days} days), robust z below -1.5",
        },
        data_link("hrv_sdnn", end - timedelta(days=66), end),
    )


def weekly_activity(ctx: Context) -> Finding | None:
    """Exercise minutes per week (last 4 complete weeks) against the WHO range."""
    values = ctx.days("exercise_time")
    if not values:
        return None
    this_monday = ctx.as_of - timedelta(days=ctx.as_of.weekday())
    if (ctx.as_of - this_monday).days == 6:  # as_of is a Sunday: this week is complete
        this_monday += timedelta(days=7)
    start = this_monday - timedelta(days=28)
    weeks = [
        sum(
            values.get(start + timedelta(days=7 * w + i), 0.0)
            for i in range(7)
            if start + timedelta(days=7 * w + i) in values
        )
        for w in range(4)
    ]
    covered = [any(start + timedelta(days=7 * w + i) in values for i in range(7)) for w in range(4)]
    measured = [m for m, c in zip(weeks, covered, strict=True) if c]
    if len(measured) < 2:
        return None
    mean = statistics.fmean(measured)
    if mean < 75:
        severity, verdict = Severity.ATTENTION, "well below"
    elif mean < 150:
        severity, verdict = Severity.NOTICE, "below"
    elif mean <= 300:
        severity, verdict = Severity.INFO, "within"
    else:
        severity, verdict = Severity.INFO, "above"
    end = this_monday - timedelta(days=1)
    return Finding(
        "weekly-activity-who",
        severity,
        "Active minutes per week",
        f"You averaged {mean:.0f} exercise minutes a week over the last {len(measured)} "
        f"complete weeks, {verdict} the 150-300 minutes WHO recommends for adults.",
        {
            "mean_per_week": (mean, "min"),
            "last_week": (measured[-1], "min"),
            "guideline_low": (150, "min"),
            "guideline_high": (300, "min"),
        },
        (start, end),
        {"kind": "guideline", "name": WHO_ACTIVITY},
        data_link("exercise_time", start, end, "week"),
    )


def _recent_nights(ctx: Context, nights: int = NIGHTS) -> list[Any]:
    rows = ctx.summaries(["sleep_analysis"], _nights_from_ms(ctx.as_of, nights))
    return [
        r
        for r in rows
        if ctx.as_of - timedelta(days=nights - 1) <= r.day_on <= ctx.as_of and r.total
    ]


def sleep_duration(ctx: Context) -> Finding | None:
    """Average sleep per night over the last 14 nights against 7-9 hours."""
    nights = _recent_nights(ctx)
    if len(nights) < 5:
        return None
    hours = statistics.fmean(n.total for n in nights) / 60
    if hours < 6:
        severity, verdict = Severity.ATTENTION, "well below"
    elif hours < 7:
        severity, verdict = Severity.NOTICE, "below"
    elif hours <= 9:
        severity, verdict = Severity.INFO, "within"
    else:
        severity, verdict = Severity.NOTICE, "above"
    start, end = nights[0].day_on, nights[-1].day_on
    return Finding(
        "sleep-duration",
        severity,
        "Average sleep",
        f"You slept {hours:.1f} hours a night on average over {len(nights)} nights, {verdict} "
        "the 7-9 hours recommended for adults.",
        {"mean_per_night": (hours, "h"), "nights": (len(nights), "1")},
        (start, end),
        {"kind": "guideline", "name": SLEEP_GUIDE},
        data_link("sleep_analysis", start, end),
    )


def sleep_regularity(ctx: Context) -> Finding | None:
    """How much the middle of the night moves: SD of the sleep midpoint over 14 nights."""
    nights = [n for n in _recent_nights(ctx) if n.first_ms and n.last_ms]
    if len(nights) < 5:
        return None
    # Local clock time of the midpoint, in minutes after 12:00, so midnight does not wrap.
    mids = [
        (((n.first_ms + n.last_ms) / 2 + (n.offset_min or 0) * 60_000) / 60_000 - 720) % 1440
        for n in nights
    ]
    spread = statistics.pstdev(mids)
    mean = statistics.fmean(mids)
    clock = f"{int((mean + 720) // 60) % 24:02}:{int(mean % 60):02}"
    severity = (
        Severity.ATTENTION if spread > 90 else Severity.NOTICE if spread > 60 else Severity.INFO
    )
    words = "varies a lot" if spread > 60 else "is regular"
    start, end = nights[0].day_on, nights[-1].day_on
    return Finding(
        "sleep-regularity",
        severity,
        "Sleep regularity",
        f"The middle of your sleep (on average at {clock}) moved by {spread:.0f} minutes (one "
        f"standard deviation) over {len(nights)} nights: your sleep timing {words}.",
        {"midpoint_sd": (spread, "min"), "nights": (len(nights), "1")},
        (start, end),
        {
            "kind": "own-baseline",
            "name": "night-to-night standard deviation of the sleep midpoint; above 60 minutes "
            "counts as irregular (sleep regularity research, e.g. Phillips et al. 2017)",
        },
        data_link("sleep_analysis", start, end),
    )


def blood_pressure(ctx: Context) -> Finding | None:
    """The ESC/ESH category of the average home reading over the last 28 days."""
    start = _bp_start(ctx.as_of)
    rows = ctx.summaries(list(BP_TYPES), _bp_from_ms(ctx.as_of))
    sums: dict[str, list[float]] = {
        "blood_pressure_systolic": [0, 0],
        "blood_pressure_diastolic": [0, 0],
    }
    for r in rows:
        if start <= r.day_on <= ctx.as_of and r.total is not None:
            sums[r.type_code][0] += r.total
            sums[r.type_code][1] += r.count
    (sys_total, sys_n), (dia_total, dia_n) = sums.values()
    if sys_n < 6 or dia_n < 6:
        return None
    sys_mean, dia_mean = sys_total / sys_n, dia_total / dia_n
    if sys_mean >= 135 or dia_mean >= 85:
        severity, category = Severity.ATTENTION, "in the hypertension range for home readings"
    elif sys_mean >= 120 or dia_mean >= 70:
        severity, category = Severity.NOTICE, "elevated"
    else:
        severity, category = Severity.INFO, "non-elevated"
    return Finding(
        "blood-pressure-category",
        severity,
        "Home blood pressure",
        f"Your {int(sys_n)} home readings over the last 28 days average "
        f"{sys_mean:.0f}/{dia_mean:.0f} mmHg, which is {category}. "
        + (
            "Guidelines advise confirming this with a health professional."
            if severity is Severity.ATTENTION
            else ""
        ),
        {
            "systolic_mean": (sys_mean, "mm[Hg]"),
            "diastolic_mean": (dia_mean, "mm[Hg]"),
            "readings": (sys_n, "1"),
        },
        (start, ctx.as_of),
        {"kind": "guideline", "name": ESC_HOME_BP},
        data_link("blood_pressure_systolic", start, ctx.as_of),
    )


def weight_trend(ctx: Context) -> Finding | None:
    """Theil-Sen trend of body weight over 90 days, if significant."""
    values = ctx.days("body_mass")
    found = trend(values, ctx.as_of, 90)
    if found is None:
        return None
    level = statistics.median(values[d] for d in values if d >= found.first)
    per_month = found.slope_per_day * 30
    share = abs(per_month) / level if level else 0.0
    if not found.significant or share < 0.005:
        severity, words = Severity.INFO, "has been stable"
    else:
        direction = "gone up" if per_month > 0 else "gone down"
        severity = Severity.NOTICE if share >= 0.02 else Severity.INFO
        words = f"has {direction} by about {abs(per_month):.1f} kg a month"
    return Finding(
        "weight-trend",
        severity,
        "Weight trend",
        f"Over the last 90 days ({found.points} weighings) your weight {words}.",
        {
            "change_per_month": (per_month, "kg"),
            "median_weight": (level, "kg"),
            "p_value": (found.p_value, "1"),
        },
        (found.first, found.last),
        {
            "kind": "own-baseline",
            "name": "Theil-Sen slope of your daily weight, Kendall's tau p < 0.05; 2 % of body "
            "weight a month or more is called out",
        },
        data_link("body_mass", found.first, found.last),
    )


def stopped_sources(ctx: Context) -> list[Finding]:
    """A source that sent data on most days and then stopped for a week or more."""
    rows = daily_rows.sources_by_day(ctx.data, ctx.as_of - timedelta(days=400), ctx.as_of)
    active: dict[int, set[date]] = {}
    for day, by_source in rows:
        for source_id in by_source or {}:
            active.setdefault(int(source_id), set()).add(day)
    names = source_names(ctx.data)
    found = []
    for source_id, days in sorted(active.items()):
        last = max(days)
        silent = (ctx.as_of - last).days
        before = sum(1 for day in days if (last - day).days < 30)
        if silent < 7 or before < 20:
            continue
        name = names.get(source_id, f"source {source_id}")
        found.append(
            Finding(
                "source-stopped",
                Severity.NOTICE,
                f"{name} stopped sending data",
                f"{name} sent data on {before} of the 30 days up to {last.isoformat()} and "
                f"nothing in the {silent} days since. If you stopped using it, all is well; "
                "otherwise check that it is charged, paired and allowed to write to Health.",
                {"days_silent": (silent, "d"), "active_days_before": (before, "d")},
                (last, ctx.as_of),
                {"kind": "own-baseline", "name": "the source's own habit of sending data"},
                "/api/insights/sources",
                extra={"source": name},
            )
        )
    return found


RULES: tuple[Callable[[Context], Finding | None], ...] = (
    resting_heart_rate,
    heart_rate_variability,
    weekly_activity,
    sleep_duration,
    sleep_regularity,
    blood_pressure,
    weight_trend,
)


def last_day_with_data(write: Writer) -> date | None:
    summaries.catch_up(write)
    return daily_rows.last_day(write)


def findings(write: Writer, as_of: date | None = None) -> list[Finding]:
    """Every finding for the person, most serious first."""
    as_of = as_of or last_day_with_data(write)
    if as_of is None:
        return []
    ctx = Context(write, as_of)
    ctx.read_ahead()
    found = [f for rule in RULES if (f := rule(ctx)) is not None]
    found += stopped_sources(ctx)
    order = {Severity.ATTENTION: 0, Severity.NOTICE: 1, Severity.INFO: 2}
    return sorted(found, key=lambda f: order[f.severity])
