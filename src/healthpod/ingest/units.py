"""Unit conversion from what producers write (HealthKit's unit strings, UCUM) to canonical UCUM.

A conversion is `canonical = value * factor + offset`. `converter(written, canonical)` looks one
up once per (type, unit) pair, so the per-record cost is one multiply-add.

HealthKit writes percentages as fractions (0.95 for 95 %) under the unit `%`; the Apple
importer reads that unit as `{fraction}`, which converts to our canonical `%` (percent) by
multiplying by 100. Blood glucose in `mg/dL` becomes `mmol/L` through
glucose's molar mass (180.15588 g/mol, the value HealthKit itself writes in
`mmol<180.1558800000541>/L`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

GLUCOSE_MOLAR_MASS = 180.15588  # g/mol


class UnitMismatch(ValueError):
    """The written unit cannot be converted to the type's canonical unit."""


@dataclass(frozen=True, slots=True)
class Conversion:
    factor: float
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        if self.offset == 0.0:
            return value if self.factor == 1.0 else value * self.factor
        return value * self.factor + self.offset


IDENTITY = Conversion(1.0)

# unit → (dimension, factor to the dimension's base unit, offset to base)
_UNITS: dict[str, tuple[str, float, float]] = {}


def _add(dimension: str, factor: float, *names: str, offset: float = 0.0) -> None:
    for name in names:
        _UNITS[name] = (dimension, factor, offset)


# length (base m)
_add("length", 1.0, "m")
_add("length", 1000.0, "km")
_add("length", 0.01, "cm")
_add("length", 0.001, "mm")
_add("length", 1609.344, "mi", "[mi_i]")
_add("length", 0.3048, "ft", "[ft_i]")
_add("length", 0.0254, "in", "[in_i]")
_add("length", 0.9144, "yd", "[yd_i]")
# mass (base kg)
_add("mass", 1.0, "kg")
_add("mass", 0.001, "g")
_add("mass", 1e-6, "mg")
_add("mass", 1e-9, "mcg", "ug", "µg")
_add("mass", 0.45359237, "lb", "[lb_av]")
_add("mass", 0.028349523125, "oz", "[oz_av]")
_add("mass", 6.35029318, "st", "[stone_av]")
# energy (base kcal); "Cal" is the food calorie
_add("energy", 1.0, "kcal", "Cal", "[Cal]")
_add("energy", 0.001, "cal")
_add("energy", 1 / 4.184, "kJ")
_add("energy", 1 / 4184.0, "J")
# duration (base min)
_add("time", 1.0, "min")
_add("time", 1 / 60, "s")
_add("time", 1 / 60000, "ms")
_add("time", 60.0, "hr", "h")
_add("time", 1440.0, "d")
# rates (base /min)
_add("rate", 1.0, "count/min", "/min", "{beats}/min", "{breaths}/min")
_add("rate", 60.0, "count/s", "/s", "Hz")
# temperature (base Cel)
_add("temperature", 1.0, "degC", "Cel")
_add("temperature", 5 / 9, "degF", "[degF]", offset=-32 * 5 / 9)
_add("temperature", 1.0, "K", offset=-273.15)
# pressure (base mm[Hg])
_add("pressure", 1.0, "mmHg", "mm[Hg]")
_add("pressure", 7.500615758456563, "kPa")
_add("pressure", 10.0, "cmHg")
# volume (base mL)
_add("volume", 1.0, "mL", "ml")
_add("volume", 1000.0, "L", "l")
_add("volume", 100.0, "dL")
_add("volume", 29.5735295625, "fl_oz_us", "[foz_us]")
_add("volume", 28.4130625, "fl_oz_imp", "[foz_br]")
_add("volume", 236.5882365, "cup_us", "[cup_us]")
_add("volume", 284.130625, "cup_imp")
_add("volume", 473.176473, "pt_us", "[pt_us]")
_add("volume", 568.26125, "pt_imp")
# speed (base km/h)
_add("speed", 1.0, "km/hr", "km/h")
_add("speed", 3.6, "m/s")
_add("speed", 1.609344, "mi/hr", "[mi_i]/h")
# counts and ratios
_add(
    "count",
    1.0,
    "count",
    "{count}",
    "{steps}",
    "{flights}",
    "{strokes}",
    "{falls}",
    "{pushes}",
    "{nikefuel}",
    "{uses}",
    "{drinks}",
    "{index}",
)
_add("fraction", 1.0, "{fraction}", "1")  # HealthKit's "%" is read as this (see docstring)
_add("fraction", 0.01, "%")
# glucose concentration (base mmol/L)
_add("glucose", 1.0, "mmol/L")
_add("glucose", 10 / GLUCOSE_MOLAR_MASS, "mg/dL", "mg/dl")
# oxygen uptake (base mL/(kg.min))
_add("vo2", 1.0, "mL/min·kg", "mL/(kg.min)", "ml/(kg.min)", "mL/kg/min", "mL/min/kg")
# sound level
_add("sound", 1.0, "dBASPL", "dB[SPL]", "dBSPL")
_add("hearing", 1.0, "dBHL", "dB[HL]")
# power and electric
_add("power", 1.0, "W")
_add("power", 1000.0, "kW")
_add("volt", 1.0, "V")
_add("volt", 1e-3, "mV")
_add("conductance", 1.0, "uS", "mcS", "µS")
_add("conductance", 1e6, "S")
_add("insulin", 1.0, "IU", "[IU]")
_add("flow", 1.0, "L/min")
_add("flow", 0.001, "mL/min")
_add("effort", 1.0, "kcal/hr·kg", "kcal/(kg.h)")
# anything else stays as written; unknown pairs raise UnitMismatch.

# Pairs that are not a plain dimension conversion.
_SPECIAL: dict[tuple[str, str], Conversion] = {
    ("count", "kg/m2"): IDENTITY,  # HealthKit writes BMI as a plain count
    ("kg/m2", "kg/m2"): IDENTITY,
}

_MOLAR = re.compile(r"^mmol<([0-9.]+)>/L$")  # HealthKit's "mmol<180.1558800000541>/L"


def _lookup(unit: str) -> tuple[str, float, float] | None:
    found = _UNITS.get(unit)
    if found is not None:
        return found
    if _MOLAR.match(unit):
        return _UNITS["mmol/L"]
    return None


@lru_cache(maxsize=4096)
def converter(written: str, canonical: str) -> Conversion:
    """How to turn a value in `written` into `canonical`.

    Raises:
        UnitMismatch: the two units measure different things, or `written` is unknown.
    """
    special = _SPECIAL.get((written, canonical))
    if special is not None:
        return special
    if written == canonical:
        return IDENTITY
    source, target = _lookup(written), _lookup(canonical)
    if source is None or target is None or source[0] != target[0]:
        raise UnitMismatch(f"cannot convert {written!r} to {canonical!r}")
    _, f_from, o_from = source
    _, f_to, o_to = target
    # base = v * f_from + o_from ; out = (base - o_to) / f_to
    factor = f_from / f_to
    offset = (o_from - o_to) / f_to
    if abs(factor - 1.0) < 1e-15:
        factor = 1.0
    return Conversion(factor, offset)


def convert(value: float, written: str, canonical: str) -> float:
    """`value` in `written` expressed in `canonical`.

    Raises:
        UnitMismatch: see `converter`.
    """
    return converter(written, canonical)(value)
