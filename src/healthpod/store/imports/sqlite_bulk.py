"""Many rows per INSERT on SQLite, and each value that is the same for every row bound once.

sqlite3's `executemany` spends about as much per statement run and per bound value as
SQLite spends inserting the row into the table and its unique index. So rows go 32 to a
statement, and a column whose value is the same in every row of the call (the person, the
import, the type, most often the source, the time zone offset, no metadata) is one
numbered parameter (`?NNN`) that all the statement's rows refer to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

ROWS_PER_STATEMENT = 32
# A repeated value is bound once only if equal values are the same value (not 1 and 1.0,
# nor -0.0 and 0.0): text, integers and NULL.
_EXACT = (str, int, type(None))


@lru_cache(maxsize=64)
def _statement(table: str, varying: tuple[str, ...], fixed: tuple[str, ...], rows: int) -> str:
    width = len(varying)
    shared = [f"?{rows * width + c + 1}" for c in range(len(fixed))]
    values = ", ".join(
        "(" + ", ".join([f"?{r * width + v + 1}" for v in range(width)] + shared) + ")"
        for r in range(rows)
    )
    # Table and column names are our own constants, never input; values are all bound.
    return (
        f"INSERT INTO {table} ({', '.join(varying + fixed)}) VALUES {values}"  # noqa: S608
        " ON CONFLICT DO NOTHING"
    )


def insert_columns(
    driver_connection: Any,
    table: str,
    constants: Mapping[str, Any],
    columns: Mapping[str, Sequence[Any]],
    maybe_constant: Mapping[str, Sequence[Any]],
) -> int:
    """Insert the rows given as columns (all of one length, at least one in `columns`),
    skipping those whose natural key is stored; return how many were new.

    `constants` are the same for every row; a column of `maybe_constant` that holds one
    value throughout is bound once as well.
    """
    n = len(next(iter(columns.values())))
    if not n:
        return 0
    fixed = dict(constants)
    varying = dict(columns)
    for name, column in maybe_constant.items():
        first = column[0]
        if type(first) in _EXACT and column.count(first) == n and _one_type(column, first):
            fixed[name] = first
        else:
            varying[name] = column
    names = (tuple(varying), tuple(fixed))
    shared = list(fixed.values())
    flat = list(chain.from_iterable(zip(*varying.values(), strict=True)))
    width = len(varying)
    step = ROWS_PER_STATEMENT * width
    full = n - n % ROWS_PER_STATEMENT
    cursor = driver_connection.cursor()
    try:
        added = 0
        if full:
            cursor.executemany(
                _statement(table, *names, ROWS_PER_STATEMENT),
                [flat[i : i + step] + shared for i in range(0, full * width, step)],
            )
            added += cursor.rowcount
        if n > full:
            cursor.executemany(
                _statement(table, *names, 1),
                [flat[i : i + width] + shared for i in range(full * width, n * width, width)],
            )
            added += cursor.rowcount
        return int(added)
    finally:
        cursor.close()


def _one_type(column: Sequence[Any], first: Any) -> bool:
    """Whether values equal to `first` are all of its type (1.0 and True equal 1)."""
    return type(first) is not int or set(map(type, column)) == {int}
