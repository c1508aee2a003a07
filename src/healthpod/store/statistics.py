"""The two reads behind every statistic of a type: grouped samples, and samples as columns.

- `discrete_groups`: count, sum, min, max per bucket of each sample's start (heart rate,
  weight), one GROUP BY on either engine.
- `sample_columns`: the samples of one type over a time range as numpy arrays, for the
  de-duplicating sweep (`insights.sweep`).

How buckets are made and what the numbers mean is the statistics' business
(`insights.aggregate`); these hold the SQL. Both read under any door (the daily summaries they
compute are derived data, kept up to date whoever reads first); what is shown from them is
read through `daily_summaries` and the person's own door. Neither ever counts a sample the
person marked wrong, whoever reads (asked of the connection itself, so a mark made earlier in
the same transaction counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import text

from healthpod.store.person_data import Reader
from healthpod.store.sample_columns import Columns
from healthpod.store.scope_sql import any_marked_wrong, not_marked_wrong_sql

FETCH_ROWS = 50_000
TABLES = frozenset({"quantity_samples", "category_samples"})


def discrete_groups(
    read: Reader, type_id: int, params: Mapping[str, Any], *, split_by_offset: bool
) -> Iterable[Sequence[Any]]:
    """(bucket, bucket offset, source, count, sum, min, max, first start, last start, first
    offset) per bucket and source of the quantity samples starting in [lo_ms, hi_ms), in
    bucket order; `params` binds lo_ms, hi_ms, b_lo, b_hi, w (bucket width) and shift."""
    off = "start_offset_min" if split_by_offset else "0"
    wrong = _not_wrong(read, "qs", "q")
    sql = f"""
        WITH s AS (
            SELECT (start_ms + start_offset_min * 60000 + :shift) / :w AS b,
                   {off} AS bo, start_ms, start_offset_min, value, source_id
            FROM quantity_samples qs
            WHERE person_id = :person_id AND type_id = :type_id
              AND start_ms >= :lo_ms AND start_ms < :hi_ms {wrong}
        )
        SELECT b, bo, source_id, COUNT(*), SUM(value), MIN(value), MAX(value), MIN(start_ms),
               MAX(start_ms), MIN(start_offset_min)
        FROM s WHERE b >= :b_lo AND b < :b_hi
        GROUP BY b, bo, source_id ORDER BY b, bo
    """  # noqa: S608 - only our own column names are formatted in
    bound = {**params, "person_id": read.person_id, "type_id": type_id}
    return read.conn.execute(text(sql), bound)


def sample_columns(
    read: Reader,
    table: str,
    type_id: int,
    *,
    scan_from_ms: int,
    from_ms: int,
    to_ms: int,
    value_codes: Sequence[str] | None = None,
    duration: bool = False,
) -> Columns:
    """The samples of a type starting in [scan_from_ms, to_ms) and ending at or after from_ms,
    as columns (value 0 with `duration`); `value_codes` keeps only the category samples with
    one of those values."""
    if table not in TABLES:
        raise ValueError(f"not a sample table: {table!r}")
    params: dict[str, object] = {
        "person_id": read.person_id,
        "type_id": type_id,
        "scan_lo": scan_from_ms,
        "lo": from_ms,
        "hi": to_ms,
    }
    value_filter = ""
    if value_codes is not None:
        names = [f"vc{i}" for i in range(len(value_codes))]
        params.update(zip(names, value_codes, strict=True))
        value_filter = f"AND value_code IN ({', '.join(':' + n for n in names)})"
    value = "0" if duration else "value"
    wrong = _not_wrong(read, "s", "q" if table == "quantity_samples" else "c")
    sql = f"""
        SELECT start_ms, end_ms, start_offset_min, source_id, {value}
        FROM {table} s
        WHERE person_id = :person_id AND type_id = :type_id
          AND start_ms >= :scan_lo AND start_ms < :hi AND end_ms >= :lo {value_filter} {wrong}
    """  # noqa: S608 - only our own table and column names are formatted in
    # The DBAPI cursor's plain tuples (SQLAlchemy Row objects cost 10x more to take apart),
    # a slice at a time so that a type with millions of samples never sits in memory as tuples.
    # float64 holds every epoch millisecond exactly (< 2**53).
    cursor = read.conn.execute(text(sql), params).cursor
    slices = []
    while rows := cursor.fetchmany(FETCH_ROWS):
        slices.append(np.array(rows, dtype=np.float64))
    if not slices:
        empty = np.zeros(0, dtype=np.int64)
        return Columns(empty, empty, empty, empty, np.zeros(0))
    start, end, offset, source, values = np.concatenate(slices).T
    return Columns(
        start.astype(np.int64),
        end.astype(np.int64),
        offset.astype(np.int64),
        source.astype(np.int64),
        values,
    )


def _not_wrong(read: Reader, alias: str, kind: str) -> str:
    """The SQL that leaves out what the person marked wrong ("" when nothing is)."""
    if not any_marked_wrong(read.conn, read.person_id):
        return ""
    return "AND " + not_marked_wrong_sql(alias, kind)
