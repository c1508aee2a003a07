"""What parsers yield, and the contract every importer follows.

Parsers never touch the database: they yield items, already normalised (our type code, UCUM
unit, UTC epoch milliseconds plus the local offset). The items are the store's import input,
defined in `store/imports/items.py` and re-exported here for the parsers. `ingest/run.py`
runs an import; the store's import writers own the transaction, batching and de-duplication.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import BinaryIO, ClassVar, Protocol

from healthpod.store.imports.items import (
    ActivitySummary,
    CategoryValue,
    ClinicalResource,
    Correlation,
    ExportInfo,
    Item,
    PersonInfo,
    Quantity,
    RouteFile,
    Sample,
    SampleBatch,
    SampleKey,
    SourceRef,
    Warning_,
    Workout,
)

__all__ = [
    "ActivitySummary",
    "CategoryValue",
    "ClinicalResource",
    "Correlation",
    "ErrorHandling",
    "ExportInfo",
    "Importer",
    "Item",
    "PersonInfo",
    "ProgressFn",
    "Quantity",
    "RouteFile",
    "Sample",
    "SampleBatch",
    "SampleKey",
    "SourceRef",
    "Warning_",
    "Workout",
]

ProgressFn = Callable[[int], None]  # called with the number of bytes read so far


class ErrorHandling(StrEnum):
    """What a parser does with one bad item: skip it silently, skip it with a warning, or stop."""

    IGNORE = "ignore"
    WARN = "warn"
    RAISE = "raise"


class Importer(Protocol):
    """A parser for one format."""

    format: ClassVar[str]  # "apple-health", "fit", "fhir", "csv", …

    def sniff(self, head: bytes, filename: str) -> bool:
        """True if `head` (the first bytes of the file) looks like this format."""
        ...

    def read(
        self,
        fp: BinaryIO,
        *,
        filename: str,
        on_progress: ProgressFn | None = None,
        errors: ErrorHandling = ErrorHandling.WARN,
    ) -> Iterator[Item]:
        """Yield the items of the file, streaming.

        Raises:
            MalformedFile: the file cannot be read; names the file and where it broke.
        """
        ...
