"""Top-level `<Record>` elements collected in batches and converted column by column.

A large export is almost all Records. Per record the parser only keeps the attribute dict;
dates, numbers and units are converted for a whole batch at once (numpy for the dates and
unit factors, list comprehensions for the rest), which is what makes a million records take
seconds. A row the batch conversion cannot take (a date in another form, a decimal comma, a
missing attribute) goes through the one-by-one reader, `elements.record`, which says
exactly what is wrong.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import partial
from itertools import compress
from typing import Any, NamedTuple

import numpy as np

from healthpod.ingest.apple import dates
from healthpod.ingest.base import Sample, SampleBatch, SampleKey

Metadata = Callable[[Any], dict[str, Any] | None]
Meta = dict[str, Any] | str  # a record's metadata, or its JSON text
TypeResolver = Callable[[str, str | None], Any]  # -> export.RecordType
OneByOne = Callable[[int, dict[str, str], Any, Callable[[], int | None]], Sample | None]


FIELDS = (
    "type",
    "sourceName",
    "sourceVersion",
    "device",
    "unit",
    "creationDate",
    "startDate",
    "endDate",
    "value",
)


class Run(NamedTuple):
    """Records the fast scanner took together, where they stand in the text it was given
    (kept, not copied, while they wait in a batch) so that a record found odd later can
    still be named by its line."""

    first_row: int
    first_line: int  # the line `text[start]` is on
    text: bytes
    start: int  # where the first record begins in `text`
    ends: list[int]  # where each record ends in `text`


class RecordColumns:
    """Records waiting to be converted: one list per attribute, children and element numbers.

    Rows arrive from the XML parser one attribute dict at a time (`append`) or from the
    fast scanner (`fast_records`) as whole columns (`extend`); either way a missing attribute
    is None.
    """

    __slots__ = ("children", "columns", "metas", "ordinals", "runs")

    def __init__(self) -> None:
        self.columns: tuple[list[str | None], ...] = tuple([] for _ in FIELDS)
        self.ordinals: list[int] = []
        self.children: dict[int, Any] = {}  # row -> child nodes (metadata, HRV beats)
        self.metas: dict[int, Meta] = {}  # row -> metadata the fast scanner read
        self.runs: list[Run] = []  # where the fast scanner's rows stood, for line numbers

    def __len__(self) -> int:
        return len(self.ordinals)

    def append(self, attrib: dict[str, str], children: Any, ordinal: int) -> None:
        if children is not None:
            self.children[len(self.ordinals)] = children
        for column, name in zip(self.columns, FIELDS, strict=True):
            column.append(attrib.get(name))
        self.ordinals.append(ordinal)

    def extend(
        self,
        columns: Sequence[Sequence[str | None]],
        metas: dict[int, Meta],
        first_ordinal: int,
        run: Run | None = None,
    ) -> None:
        """Add whole columns (in FIELDS order); `metas` is keyed by row within them."""
        offset = len(self.ordinals)
        if run is not None:
            self.runs.append(run._replace(first_row=offset))
        for mine, theirs in zip(self.columns, columns, strict=True):
            mine.extend(theirs)
        for row, meta in metas.items():
            self.metas[offset + row] = meta
        n = len(columns[0])
        self.ordinals.extend(range(first_ordinal, first_ordinal + n))

    def line(self, row: int) -> int | None:
        """The line a row's element starts on, where the fast scanner read it; else None."""
        at = bisect_right([run.first_row for run in self.runs], row) - 1
        if at < 0 or row - self.runs[at].first_row >= len(self.runs[at].ends):
            return None
        run = self.runs[at]
        k = row - run.first_row
        start = run.text.find(b"<", run.ends[k - 1] if k else run.start)
        return run.first_line + run.text.count(b"\n", run.start, start)

    def attrib(self, row: int) -> dict[str, str]:
        """Row `row` as the attribute dict the one-by-one reader takes."""
        return {
            name: value
            for name, column in zip(FIELDS, self.columns, strict=True)
            if (value := column[row]) is not None
        }

    def convert(
        self, resolve: TypeResolver, metadata: Metadata, one_by_one: OneByOne
    ) -> tuple[SampleBatch, list[Sample]]:
        """The rows converted together as a batch, and the odd rows converted one by one."""
        (
            types,
            sources,
            versions_text,
            devices_text,
            units,
            created_text,
            start_text,
            end_text,
            values_text,
        ) = self.columns
        n = len(self.ordinals)
        start_ms, start_off, ok = dates.parse_many(start_text)
        end_ms, end_off, end_ok = dates.parse_many(end_text)
        created_ms, _, created_ok = dates.parse_many(created_text)
        ok &= end_ok
        if None in created_text:
            created_ok |= np.fromiter((t is None for t in created_text), bool, n)
        ok &= created_ok

        # One SampleKey per (type, unit) pair; a None type or source is an odd row.
        keys: list[SampleKey] = []
        rtypes: list[Any] = []
        key_of: dict[tuple[str | None, str | None], int] = {}
        # Most batches hold one type (and unit): then no pair per row is needed.
        one_pair = _alike(types) and _alike(units)
        type_units = [(types[0], units[0])] if one_pair else list(zip(types, units, strict=True))
        for pair in dict.fromkeys(type_units):
            key_of[pair] = len(keys)
            rtype = None if pair[0] is None else resolve(pair[0], pair[1])
            rtypes.append(rtype)
            keys.append(
                SampleKey("", "", "")
                if rtype is None
                else SampleKey(rtype.code, rtype.kind, rtype.unit, rtype.known)
            )
        key_index = [0] * n if len(keys) == 1 else list(map(key_of.__getitem__, type_units))
        if None in types or None in sources or None in values_text:
            ok &= np.fromiter(
                (
                    t is not None and s is not None and v is not None
                    for t, s, v in zip(types, sources, values_text, strict=True)
                ),
                bool,
                n,
            )
        values, values_ok = _values(values_text, key_index, rtypes)
        ok &= values_ok

        odd: list[Sample] = []
        keep: list[bool] | None = None
        if not ok.all():
            keep = ok.tolist()
            for row in np.flatnonzero(~ok).tolist():
                children = self.children.get(row)
                if children is None and row in self.metas:
                    read = self.metas[row]
                    pairs = json.loads(read) if isinstance(read, str) else read
                    children = [
                        ["MetadataEntry", {"key": k, "value": v}, None] for k, v in pairs.items()
                    ]
                # The line only if the row is refused: a decimal-comma export sends every
                # row this way, and counting lines for each would cost more than reading.
                sample = one_by_one(
                    self.ordinals[row], self.attrib(row), children, partial(self.line, row)
                )
                if sample is not None:
                    odd.append(sample)
        # Metadata goes on as JSON text, each shared dict encoded once.
        meta: list[str | None] = [None] * n
        for row, children in self.children.items():
            entries = metadata(children)
            meta[row] = None if entries is None else json.dumps(entries)
        encoded: dict[int, str] = {}
        for row, found in self.metas.items():
            if isinstance(found, str):
                meta[row] = found
            elif (text := encoded.get(id(found))) is not None:
                meta[row] = text
            else:
                meta[row] = encoded[id(found)] = json.dumps(found)

        def column(items: list[Any]) -> list[Any]:
            return items if keep is None else list(compress(items, keep))

        def array(items: np.ndarray) -> np.ndarray:
            return items if keep is None else items[ok]

        # Numbers go to the other process as arrays: pickled as their bytes, not number by
        # number, and made into Python numbers only where they are written.
        sources_found, source_index = _indexed(column(sources))
        versions_found, version_index = _indexed(column(versions_text))
        devices_found, device_index = _indexed(column(devices_text))
        created: list[int | None] | np.ndarray
        if None in created_text:
            listed = created_ms.tolist()
            created = [None if t is None else c for t, c in zip(created_text, listed, strict=True)]
            created = column(created)
        else:
            created = array(created_ms)
        batch = SampleBatch(
            keys=keys,
            key_index=column(key_index),
            start_ms=array(start_ms),
            end_ms=array(end_ms),
            start_offset_min=array(start_off),
            end_offset_min=array(end_off),
            values=array(values) if isinstance(values, np.ndarray) else column(values),
            sources=sources_found,
            source_index=source_index,
            versions=versions_found,
            version_index=version_index,
            devices=devices_found,
            device_index=device_index,
            created_ms=created,
            meta=column(meta),
        )
        return batch, odd


def _alike(values: list[Any]) -> bool:
    """Whether every value is the first (fast where they are one object, as columns with
    one value throughout are)."""
    return not values or values.count(values[0]) == len(values)


def _indexed(values: list[Any]) -> tuple[list[Any], list[int]]:
    """The distinct values in order of appearance, and each row's index into them."""
    if _alike(values):
        return values[:1], [0] * len(values)
    ids = {value: i for i, value in enumerate(dict.fromkeys(values))}
    return list(ids), list(map(ids.__getitem__, values))


def _values(
    texts: list[str | None], key_index: list[int], rtypes: list[Any]
) -> tuple[list[Any] | np.ndarray, np.ndarray]:
    """Numbers for quantity rows (unit-converted; an array where every row is one), value
    codes for category rows, and an ok mask."""
    n = len(texts)
    quantity = [r is not None and r.kind == "quantity" for r in rtypes]
    if not any(quantity):
        return list(texts), np.ones(n, dtype=bool)
    numbers = np.zeros(n, dtype=np.float64)
    ok = np.ones(n, dtype=bool)
    is_quantity = np.array(quantity, dtype=bool)[np.array(key_index, dtype=np.int64)]
    rows = np.flatnonzero(is_quantity)
    wanted = [texts[r] for r in rows.tolist()] if len(rows) < n else texts
    try:
        numbers[rows] = np.array(wanted, dtype=np.float64)  # "72", "0.95", "1e3"
    except (ValueError, TypeError):
        for r in rows.tolist():  # a decimal comma or worse: the one-by-one reader decides
            try:
                numbers[r] = float(texts[r])  # type: ignore[arg-type]
            except (ValueError, TypeError):
                ok[r] = False
    ok &= ~is_quantity | np.isfinite(numbers)
    factors = np.array(
        [r.convert.factor if q else 1.0 for r, q in zip(rtypes, quantity, strict=True)]
    )
    offsets = np.array(
        [r.convert.offset if q else 0.0 for r, q in zip(rtypes, quantity, strict=True)]
    )
    index = np.array(key_index, dtype=np.int64)
    if (factors != 1.0).any():
        numbers *= factors[index]
    if (offsets != 0.0).any():
        numbers += offsets[index]  # value * factor + offset, as units.Conversion does
    if len(rows) == n:
        return numbers, ok
    converted = numbers.tolist()
    return [
        c if q else t for c, t, q in zip(converted, texts, is_quantity.tolist(), strict=True)
    ], ok
