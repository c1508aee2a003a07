"""The study rules' refusals in the operator's language.

`research.studies` and `research.duo` speak to the command line (English, `--flag` hints). The
operator page shows the same refusal in the page's language: each known message is matched
here and rendered from a msgid; an unknown one falls back to its English text. A hint that
names command-line flags or commands is left out on the web, where it does not apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from healthpod.errors import HealthpodError
from healthpod.web import labels
from healthpod.web.i18n import N_

REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"A study needs a title\.", N_("A study needs a title.")),
        (
            r"Actor (?P<name>'.*') is disabled and cannot sponsor a study\.",
            N_("%(name)s is disabled and cannot sponsor a study."),
        ),
        (
            r"Actor (?P<name>'.*') is a \w+ actor, not a research actor\.",
            N_("%(name)s is not a research actor, so it cannot sponsor a study."),
        ),
        (r"No actor with client id (?P<what>'.*')\.", N_("There is no actor %(what)s.")),
        (
            r"Unknown data categories: (?P<what>.+)\.",
            N_("Unknown data categories: %(what)s."),
        ),
        (r"A study needs at least one data category\.", N_("Choose at least one kind of data.")),
        (
            r"A study never gets who a person is \(the identity category\)\.",
            N_("A study never gets who a person is."),
        ),
        (r"Unknown granularity (?P<what>'.*')\.", N_("Unknown granularity %(what)s.")),
        (
            r"The data period is empty: --to must come after --from\.",
            N_("The data period is empty: the end must come after the start."),
        ),
        (r"The study's end date has passed\.", N_("The study's end date has passed.")),
        (
            r"The minimum cohort must be at least 2 people and at most (?P<max>[\d,]+)\.",
            N_("The minimum cohort must be at least 2 people and at most %(max)s."),
        ),
        (
            r"The privacy budget \(epsilon\) must be a number from (?P<min>\S+) to (?P<max>\S+)\.",
            N_("The privacy budget (epsilon) must be a number from %(min)s to %(max)s."),
        ),
        (
            r"A study gets measurements only; (?P<categories>.+) (is a record|are records) from "
            r"healthcare, which no study gets \(their free text may name the person\)\.",
            N_(
                "A study gets measurements only, not records from healthcare (%(categories)s): "
                "their free text may name the person."
            ),
        ),
        (
            r"DS \(disease-specific research\) needs the disease's MONDO id\.",
            N_("DS needs the disease's MONDO id, such as DS:MONDO:0005148."),
        ),
        (r"Unknown DUO code (?P<what>'.*')\.", N_("Unknown DUO code %(what)s.")),
        (
            r"A study needs exactly one DUO permission code.*",
            N_("A study needs one DUO permission (such as HMB or GRU), then any modifiers."),
        ),
        (r"A DUO modifier was given twice\.", N_("A DUO modifier was given twice.")),
        (
            r"(?P<label>\w[\w ]*): (?P<what>'.*') is not a date\.",
            N_("%(label)s: %(what)s is not a date (YYYY-MM-DD)."),
        ),
        (
            r"(?P<label>\w[\w ]*): (?P<what>'.*') is not a number\.",
            N_("%(label)s: %(what)s is not a number."),
        ),
        (
            r"Study (?P<id>\d+) is (?P<state>\w+); only a draft study can be opened\.",
            N_("Study %(id)s is not a draft: only a draft study can be opened."),
        ),
        (
            r"Study (?P<id>\d+) is past its end date and cannot be opened\.",
            N_("Study %(id)s is past its end date and cannot be opened."),
        ),
        (r"Study (?P<id>\d+) is closed already\.", N_("Study %(id)s is closed already.")),
        (r"There is no study with id (?P<id>\d+)\.", N_("There is no study %(id)s.")),
    )
)

# The form's own field labels, as `_day`/`_number` name them.
LABELS = {
    "From": N_("From"),
    "To": N_("To"),
    "End": N_("End"),
    "Minimum cohort": N_("Minimum cohort"),
    "Privacy budget": N_("Privacy budget"),
}


def in_words(refused: HealthpodError, gettext: Callable[..., str]) -> str:
    """The refusal in the page's language, with its hint when the hint fits the web."""
    for pattern, msgid in REFUSALS:
        found = pattern.fullmatch(refused.message)
        if found:
            params = found.groupdict()
            if "label" in params:
                params["label"] = gettext(LABELS.get(params["label"], params["label"]))
            if "categories" in params:  # named by their codes: shown by their names
                params["categories"] = ", ".join(
                    gettext(labels.CATEGORIES.get(c, c)) for c in params["categories"].split(", ")
                )
            return str(gettext(msgid, **params))
    text = str(gettext(refused.message))
    hint = refused.hint
    if hint and "--" not in hint and "`" not in hint:
        text += " " + str(gettext(hint))
    return text
