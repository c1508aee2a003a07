"""How each stored type is measured per bucket: summed, described, or timed (sleep)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from healthpod.errors import NotFound
from healthpod.store import sample_types
from healthpod.store.person_data import Reader
from healthpod.vocabulary import Aggregation, sample_type

# Sleep stages as the Health app writes them (older exports: Asleep; newer: Core, Deep, REM),
# and the lower-case forms other importers may use.
ASLEEP_CODES = (
    "HKCategoryValueSleepAnalysisAsleep",
    "HKCategoryValueSleepAnalysisAsleepUnspecified",
    "HKCategoryValueSleepAnalysisAsleepCore",
    "HKCategoryValueSleepAnalysisAsleepDeep",
    "HKCategoryValueSleepAnalysisAsleepREM",
    "asleep",
    "light",
    "core",
    "deep",
    "rem",
)
IN_BED_CODES = ("HKCategoryValueSleepAnalysisInBed", "in_bed", "inbed")
STOOD_CODES = ("HKCategoryValueAppleStandHourStood", "stood")


class Method(StrEnum):
    SUM = "sum"  # cumulative quantity: de-duplicated sum
    DESCRIBE = "describe"  # discrete quantity: count, min, max, mean
    SLEEP = "sleep"  # minutes asleep (in bed without stages) per night, on the wake-up day
    DURATION = "duration"  # other category types: minutes covered, de-duplicated


@dataclass(frozen=True, slots=True)
class Measure:
    type_id: int
    code: str
    kind: str  # quantity|category
    unit: str  # unit of `total`/min/max/mean: the type's unit, or "min" for durations
    method: Method
    display: str

    @property
    def table(self) -> str:
        return "quantity_samples" if self.kind == "quantity" else "category_samples"

    @property
    def value_codes(self) -> tuple[str, ...] | None:
        if self.code == "stand_hour":
            return STOOD_CODES
        return None


def measure_of(code: str, type_id: int, kind: str, unit: str | None) -> Measure:
    known = sample_type(code)
    display = known.display if known else code
    if kind == "category":
        method = Method.SLEEP if code == "sleep_analysis" else Method.DURATION
        return Measure(type_id, code, kind, "min", method, display)
    # A type we do not know is described, never summed: summing could double count.
    summed = known is not None and known.aggregation is Aggregation.CUMULATIVE
    return Measure(
        type_id, code, kind, unit or "", Method.SUM if summed else Method.DESCRIBE, display
    )


def stored_measures(read: Reader) -> dict[str, Measure]:
    """Every type the store knows, by code."""
    return {c: measure_of(c, i, k, u) for i, c, k, u in sample_types.stored(read)}


def find_measure(read: Reader, code: str) -> Measure:
    """The measure of type `code`.

    Raises:
        NotFound: the store has no such type.
    """
    row = None
    # A code with control characters (NUL breaks PostgreSQL's text) or of absurd length is no type.
    if code.strip().isprintable() and len(code) <= 200:
        row = sample_types.find(read, code.strip())
    if row is None:
        measures = stored_measures(read)
        known = ", ".join(sorted(measures)) or "none yet (import some data first)"
        raise NotFound(
            f"Unknown type {code!r}.",
            hint=f"Types in this pod: {known}. `healthpod stats` lists them with counts.",
        )
    type_id, found, kind, unit = row
    return measure_of(found, type_id, kind, unit)
