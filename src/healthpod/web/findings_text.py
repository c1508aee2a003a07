"""The insight engine's findings in the person's language.

The engine (`insights.findings`) states each finding in English and carries its numbers; here
each rule's sentence is a msgid filled with those numbers in the locale's format, so a Swedish
page has no English left. A rule this module does not know yet shows the engine's own text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from healthpod.web.i18n import N_, Formatter

Gettext = Callable[..., str]


@dataclass(frozen=True, slots=True)
class ShownFinding:
    id: str
    severity: str
    title: str
    text: str
    compared_with: str
    data: str
    note: str


def _n(finding: Any, name: str) -> float:
    return float(finding.numbers[name][0])


def show(finding: Any, _: Gettext, fmt: Formatter) -> ShownFinding:
    """Title and text of `finding` translated, numbers in the locale's format."""
    title, text = _title_and_text(finding, _, fmt)
    kind = finding.reference.get("kind", "")
    compared = (
        _("Compared with your own history.")
        if kind == "own-baseline"
        else _("Compared with a public guideline.")
    )
    return ShownFinding(
        id=finding.id,
        severity=str(finding.severity),
        title=title,
        text=text,
        compared_with=compared,
        data=finding.data if finding.data.startswith("/type/") else "",
        note=_("This is wellness information, not a diagnosis."),
    )


def _title_and_text(f: Any, _: Gettext, fmt: Formatter) -> tuple[str, str]:
    num = fmt.number
    match f.id:
        case "resting-heart-rate-above-baseline":
            return _("Resting heart rate above your normal"), _(
                "Your resting heart rate has been above your usual range for %(days)s days in a"
                " row (on average %(mean)s bpm against your normal %(base)s bpm). This often"
                " follows a hard training block, short sleep, alcohol, stress or a coming cold.",
                days=num(_n(f, "days_in_a_row")),
                mean=num(_n(f, "mean")),
                base=num(_n(f, "baseline_median")),
            )
        case "hrv-below-baseline":
            return _("Heart rate variability below your normal"), _(
                "Your heart rate variability this week averaged %(mean)s ms, below your usual"
                " %(base)s ms. Lower HRV often goes with strain, poor sleep or illness.",
                mean=num(_n(f, "mean_7d")),
                base=num(_n(f, "baseline_median")),
            )
        case "weekly-activity-who":
            mean = _n(f, "mean_per_week")
            message = (
                N_(
                    "You averaged %(minutes)s exercise minutes a week, well below the 150-300"
                    " minutes WHO recommends for adults."
                )
                if mean < 75
                else N_(
                    "You averaged %(minutes)s exercise minutes a week, below the 150-300"
                    " minutes WHO recommends for adults."
                )
                if mean < 150
                else N_(
                    "You averaged %(minutes)s exercise minutes a week, within the 150-300"
                    " minutes WHO recommends for adults."
                )
                if mean <= 300
                else N_(
                    "You averaged %(minutes)s exercise minutes a week, above the 150-300"
                    " minutes WHO recommends for adults."
                )
            )
            return _("Active minutes per week"), _(message, minutes=num(mean))
        case "sleep-duration":
            hours = _n(f, "mean_per_night")
            message = (
                N_(
                    "You slept %(hours)s hours a night on average, well below the 7-9 hours"
                    " recommended for adults."
                )
                if hours < 6
                else N_(
                    "You slept %(hours)s hours a night on average, below the 7-9 hours"
                    " recommended for adults."
                )
                if hours < 7
                else N_(
                    "You slept %(hours)s hours a night on average, within the 7-9 hours"
                    " recommended for adults."
                )
                if hours <= 9
                else N_(
                    "You slept %(hours)s hours a night on average, above the 7-9 hours"
                    " recommended for adults."
                )
            )
            return _("Average sleep"), _(message, hours=num(hours, 1))
        case "sleep-regularity":
            spread = _n(f, "midpoint_sd")
            message = (
                N_(
                    "The middle of your sleep moved by %(minutes)s minutes from night to night"
                    " over %(nights)s nights: your sleep timing varies a lot."
                )
                if spread > 60
                else N_(
                    "The middle of your sleep moved by %(minutes)s minutes from night to"
                    " night over %(nights)s nights: your sleep timing is regular."
                )
            )
            return _("Sleep regularity"), _(
                message, minutes=num(spread), nights=num(_n(f, "nights"))
            )
        case "blood-pressure-category":
            params = {
                "readings": num(_n(f, "readings")),
                "systolic": num(_n(f, "systolic_mean")),
                "diastolic": num(_n(f, "diastolic_mean")),
            }
            message = (
                N_(
                    "Your %(readings)s home readings over the last 28 days average"
                    " %(systolic)s/%(diastolic)s mmHg, which is in the hypertension range for home"
                    " readings. Guidelines advise confirming this with a health professional."
                )
                if str(f.severity) == "attention"
                else N_(
                    "Your %(readings)s home readings over the last 28 days average"
                    " %(systolic)s/%(diastolic)s mmHg, which is elevated."
                )
                if str(f.severity) == "notice"
                else N_(
                    "Your %(readings)s home readings over the last 28 days average"
                    " %(systolic)s/%(diastolic)s mmHg, which is not elevated."
                )
            )
            return _("Home blood pressure"), _(message, **params)
        case "weight-trend":
            per_month = _n(f, "change_per_month")
            if "stable" in f.text:
                return _("Weight trend"), _("Over the last 90 days your weight has been stable.")
            message = (
                N_("Over the last 90 days your weight has gone up by about %(kg)s kg a month.")
                if per_month > 0
                else N_(
                    "Over the last 90 days your weight has gone down by about %(kg)s kg a month."
                )
            )
            return _("Weight trend"), _(message, kg=num(abs(per_month), 1))
        case "source-stopped":
            name = str(f.extra.get("source", ""))
            return _("%(source)s stopped sending data", source=name), _(
                "%(source)s sent data on %(active)s of 30 days and nothing in the %(silent)s days"
                " since. If you stopped using it, all is well; otherwise check that it is"
                " charged, paired and allowed to share its data.",
                source=name,
                active=num(_n(f, "active_days_before")),
                silent=num(_n(f, "days_silent")),
            )
        case _unknown:
            return _(f.title), _(f.text)
