"""Quantity samples of one type as columns (numpy arrays), the shape the daily statistics take.

The store's reader produces them (`store.statistics.sample_columns`), and an import that has just
written every sample of a type keeps them (`store.imports.summarizing`), so the daily summaries
need not read back what was just written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Columns:
    """Quantity samples of one type, column by column, as the store holds them.

    `fetch` reads these from the store; an import that knows every sample of a type because
    it has just added them all (`store.imports.summarizing`) hands them over instead, which saves
    reading back what it wrote.
    """

    start: Ints
    end: Ints
    offset_min: Ints
    source: Ints
    value: Floats

    def __len__(self) -> int:
        return len(self.start)

    def starting(self, from_ms: int, to_ms: int, *, ending_from_ms: int | None = None) -> Columns:
        """The samples starting in [from_ms, to_ms) (and ending at or after ending_from_ms)."""
        keep = (self.start >= from_ms) & (self.start < to_ms)
        if ending_from_ms is not None:
            keep &= self.end >= ending_from_ms
        return Columns(
            self.start[keep],
            self.end[keep],
            self.offset_min[keep],
            self.source[keep],
            self.value[keep],
        )
