"""FHIR search values as the store applies them: one date bound and one token for every query.

`fhir.search` parses query strings into these (the one parser); samples, daily summaries and
records from healthcare all take them, so a `date=ge2024-01` means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, not_

PREFIXES = ("eq", "ne", "ge", "gt", "le", "lt", "sa", "eb")


@dataclass(frozen=True, slots=True)
class DateBound:
    """One date search value: a prefix and the half-open range [start_ms, end_ms) it names
    (`2024-01` names all of January; an instant to the millisecond names one millisecond)."""

    prefix: str
    start_ms: int
    end_ms: int

    def on_range(self, low: ColumnElement[int], high: ColumnElement[int]) -> ColumnElement[bool]:
        """The condition for data whose own range is [low, high], both inclusive, as FHIR R4
        reads date prefixes against a period (HAPI's reading)."""
        lo, hi = self.start_ms, self.end_ms - 1  # our value, inclusive at both ends
        match self.prefix:
            case "eq":
                return and_(low >= lo, high <= hi)
            case "ne":
                return not_(and_(low >= lo, high <= hi))
            case "gt":
                return high > hi
            case "lt":
                return low < lo
            case "ge":
                return high >= lo
            case "le":
                return low <= hi
            case "sa":
                return low > hi
            case _:  # "eb"
                return high < lo


@dataclass(frozen=True, slots=True)
class Token:
    """One `system|code` value; `system` None means any system, "" means no system; `code`
    None means any code of that system."""

    system: str | None
    code: str | None
