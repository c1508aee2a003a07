"""Vital-sign and activity Observations from healthcare, also as samples for the statistics.

An Observation whose LOINC code is one of our sample types (vocabulary.BY_LOINC) and that has a
numeric valueQuantity becomes a Quantity in our canonical unit; a blood-pressure panel
(85354-9, or Synthea's 55284-4) becomes a blood_pressure Correlation of its systolic and
diastolic components. The Observation itself is stored whole as well; the sample's `meta`
names it (`{"fhir": "Observation/<id>"}`) so the API can tell the two apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from healthpod.ingest.base import Correlation, Quantity, SourceRef, Warning_
from healthpod.ingest.units import UnitMismatch, converter
from healthpod.store.resource_index import (
    BLOOD_PRESSURE_PANELS,
    LOINC,
    DateRange,
    date_of_element,
)
from healthpod.vocabulary import BY_LOINC, SampleType

_SKIPPED_STATUSES = frozenset({"entered-in-error", "cancelled", "registered"})
HEALTHCARE_SOURCE = "Healthcare records"

Produced = Quantity | Correlation | Warning_


def samples_of(
    observation: dict[str, Any], *, location: str, organisation: str | None
) -> Iterator[Produced]:
    """The samples an Observation stands for (none for most), plus a warning per unusable value."""
    if observation.get("status") in _SKIPPED_STATUSES:
        return
    when = date_of_element(observation, "effective[x]")
    if when is None:
        return
    if "effectivePeriod" not in observation:
        # A point in time: a date-only value stands for its first instant, not the whole day.
        when = DateRange(when.start_ms, when.start_ms, when.offset_min)
    source = SourceRef(organisation or HEALTHCARE_SOURCE, kind="healthcare")
    ref = f"Observation/{observation.get('id')}"
    codes = _loinc_codes(observation.get("code"))
    if BLOOD_PRESSURE_PANELS & set(codes):
        parts: list[Quantity] = []
        for component in _as_list(observation.get("component")):
            if not isinstance(component, dict):
                continue
            for code in _loinc_codes(component.get("code")):
                found = BY_LOINC.get(code)
                if found is not None and found.code.startswith("blood_pressure_"):
                    made = _quantity(component, found, when, source, ref, location)
                    if isinstance(made, Warning_):
                        yield made
                    elif made is not None:
                        parts.append(made)
                    break
        if parts:
            yield Correlation(
                "blood_pressure",
                when.start_ms,
                when.end_ms,
                when.offset_min,
                when.offset_min,
                source,
                tuple(parts),
                meta={"fhir": ref},
            )
        return
    for code in codes:
        found = BY_LOINC.get(code)
        if found is not None and found.kind == "quantity":
            made = _quantity(observation, found, when, source, ref, location)
            if made is not None:
                yield made
            return


def _quantity(
    holder: dict[str, Any],
    sample_type: SampleType,
    when: DateRange,
    source: SourceRef,
    ref: str,
    location: str,
) -> Quantity | Warning_ | None:
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number):
        return None
    written = quantity.get("code") or quantity.get("unit") or ""
    try:
        canonical = converter(str(written), sample_type.unit)(number)
    except UnitMismatch:
        return Warning_(
            location,
            f"{ref}: {sample_type.display.lower()} in {written!r} cannot be converted to "
            f"{sample_type.unit}; it is kept as a record but not added to the statistics.",
        )
    return Quantity(
        sample_type.code,
        when.start_ms,
        when.end_ms,
        when.offset_min,
        when.offset_min,
        canonical,
        sample_type.unit,
        source,
        meta={"fhir": ref},
    )


def _loinc_codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [
        str(coding.get("code"))
        for coding in _as_list(concept.get("coding"))
        if isinstance(coding, dict) and coding.get("system") == LOINC
    ]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
