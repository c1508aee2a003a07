"""UCUM units as a person reads them: `mm[Hg]` is mmHg, `/min` is "per minute", `{score}` is
"points" (never raw braces), `10*9/L` is "10 to the 9th per litre".

`words(code)` gives a msgid where the unit is a word (translated when shown, `_(words(u))`),
or the unit written with ordinary symbols where it is one (mmol/L, µg/L), which `_()` leaves as
it is.
"""

from __future__ import annotations

import re

from healthpod.web.i18n import N_

# Units that read as words, or whose UCUM spelling is not what a person writes.
KNOWN: dict[str, str] = {
    "/min": N_("per minute"),
    "{beats}/min": N_("bpm"),
    "{Beats}/min": N_("bpm"),
    "/min{beats}": N_("bpm"),
    "{breaths}/min": N_("breaths/min"),
    "{Breaths}/min": N_("breaths/min"),
    "{steps}": N_("steps"),
    "{flights}": N_("flights"),
    "{score}": N_("points"),
    "{Score}": N_("points"),
    "{count}": N_("count"),
    "{#}": "",
    "{ratio}": "",
    "1": "",
    "{packs}/d": N_("packs a day"),
    "{pack-years}": N_("pack-years"),
    "{packyears}": N_("pack-years"),
    "{pack_years}": N_("pack-years"),
    "a": N_("years"),
    "mo": N_("months"),
    "wk": N_("weeks"),
    "d": N_("days"),
    "h": N_("hours"),
    "min": N_("min"),
    "s": "s",
    "mm[Hg]": "mmHg",
    "cm[H2O]": "cmH₂O",
    "Cel": "°C",
    "[degF]": "°F",
    "kg/m2": "kg/m²",
    "m2": "m²",
    "[lb_av]": "lb",
    "[oz_av]": "oz",
    "[in_i]": "in",
    "[ft_i]": "ft",
    "mL/(kg.min)": "ml/(kg·min)",
    "mL": "ml",
    "L": "l",
    "%": "%",
}

_POWER = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_ANNOTATION = re.compile(r"\{([^{}]*)\}")
_TEN_TO = re.compile(r"10\*(-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(g|mol|L|l|m|IU|U|s)\b)")
_SQUARE = re.compile(r"(?<=[A-Za-z])2\b")


def words(code: str | None) -> str:
    """The unit as a person reads it: a msgid for a word, else ordinary symbols."""
    if not code:
        return ""
    code = code.strip()
    if code in KNOWN:
        return KNOWN[code]
    if code.startswith("{") and code.endswith("}") and code.count("{") == 1:
        return code[1:-1].replace("_", " ")  # a bare annotation: its own words
    text = _ANNOTATION.sub(lambda m: m.group(1).replace("_", " "), code)  # mL/min/{1.73_m2}
    text = _TEN_TO.sub(lambda m: "\u00d710" + m.group(1).translate(_POWER), text)  # 10*9/L
    text = _MICRO.sub("µ", text)  # ug/L is µg/L
    text = _SQUARE.sub("²", text)  # 1.73 m2 is 1.73 m²
    text = text.replace("[IU]", "IU").replace("[iU]", "IU").replace("[", "").replace("]", "")
    return text.replace(".", "·") if re.fullmatch(r"[A-Za-zµ]+(\.[A-Za-zµ]+)+", text) else text
