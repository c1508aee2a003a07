"""Top-level `<Record>` elements collected in batches and converted column by column.

A large export is almost all Records. Per record the parser only keeps the attribute dict;
dates, numbers and units are converted for a whole batch at once (numpy for the dates and
unit factors, list comprehensions for the rest), which is what makes a million records take
seconds. A row the batch conversion cannot take (a date in another form, a decimal comma, a
missing attribute) goes through the one-by-one reader, `apple_elements.record`, which says
exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress
from typing import Any

import numpy as np

from healthpod.ingest import apple_dates
from healthpod.ingest.base import Sample, SampleBatch, SampleKey

Metadata = Callable[[Any], dict[str, Any] | None]
TypeResolver = Callable[[str, str | None], Any]  # -> apple_health.RecordType
OneByOne = Callable[[int, dict[str, str], Any], Sample | None]


class RecordColumns:
    """Records waiting to be converted: their attribute dicts, children and element numbers."""

    __slots__ = ("attribs", "children", "ordinals")

    def __init__(self) -> None:
        self.attribs: list[dict[str, str]] = []
        self.ordinals: list[int] = []
        self.children: dict[int, Any] = {}  # row -> child nodes (metadata, HRV beats)

    def __len__(self) -> int:
        return len(self.attribs)

    def convert(
        self, resolve: TypeResolver, metadata: Metadata, one_by_one: OneByOne
    ) -> tuple[SampleBatch, list[Sample]]:
        """The rows converted together as a batch, and the odd rows converted one by one."""
        attribs = self.attribs
        n = len(attribs)
        types = [a.get("type") for a in attribs]
        units = [a.get("unit") for a in attribs]
        values_text = [a.get("value") for a in attribs]
        sources = [a.get("sourceName") for a in attribs]
        created_text = [a.get("creationDate") for a in attribs]
        start_ms, start_off, ok = apple_dates.parse_many([a.get("startDate", "") for a in attribs])
        end_ms, end_off, end_ok = apple_dates.parse_many([a.get("endDate", "") for a in attribs])
        created_ms, _, created_ok = apple_dates.parse_many([t or "" for t in created_text])
        ok &= end_ok
        if None in created_text:
            created_ok |= np.fromiter((t is None for t in created_text), bool, n)
        ok &= created_ok

        # One SampleKey per (type, unit) pair; a None type or source is an odd row.
        keys: list[SampleKey] = []
        rtypes: list[Any] = []
        key_of: dict[tuple[str | None, str | None], int] = {}
        for pair in set(zip(types, units, strict=True)):
            key_of[pair] = len(keys)
            rtype = None if pair[0] is None else resolve(pair[0], pair[1])
            rtypes.append(rtype)
            keys.append(
                SampleKey("", "", "")
                if rtype is None
                else SampleKey(rtype.code, rtype.kind, rtype.unit, rtype.known)
            )
        key_index = [key_of[pair] for pair in zip(types, units, strict=True)]
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
                sample = one_by_one(self.ordinals[row], attribs[row], self.children.get(row))
                if sample is not None:
                    odd.append(sample)
        meta: list[dict[str, Any] | None] = [None] * n
        for row, children in self.children.items():
            meta[row] = metadata(children)

        def column(items: list[Any]) -> list[Any]:
            return items if keep is None else list(compress(items, keep))

        versions: dict[str | None, int] = {}
        devices: dict[str | None, int] = {}
        source_ids: dict[str, int] = {}
        created = created_ms.tolist()
        batch = SampleBatch(
            keys=keys,
            key_index=column(key_index),
            start_ms=column(start_ms.tolist()),
            end_ms=column(end_ms.tolist()),
            start_offset_min=column(start_off.tolist()),
            end_offset_min=column(end_off.tolist()),
            values=column(values),
            sources=[],
            source_index=[source_ids.setdefault(s, len(source_ids)) for s in column(sources)],
            versions=[],
            version_index=[
                versions.setdefault(a.get("sourceVersion"), len(versions)) for a in column(attribs)
            ],
            devices=[],
            device_index=[
                devices.setdefault(a.get("device"), len(devices)) for a in column(attribs)
            ],
            created_ms=column(
                [None if t is None else c for t, c in zip(created_text, created, strict=True)]
            ),
            meta=column(meta),
        )
        batch.sources.extend(source_ids)
        batch.versions.extend(versions)
        batch.devices.extend(devices)
        return batch, odd


def _values(
    texts: list[str | None], key_index: list[int], rtypes: list[Any]
) -> tuple[list[Any], np.ndarray]:
    """Numbers for quantity rows (unit-converted), value codes for category rows, and an ok mask."""
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
    converted = numbers.tolist()
    if len(rows) == n:
        return converted, ok
    return [
        c if q else t for c, t, q in zip(converted, texts, is_quantity.tolist(), strict=True)
    ], ok
