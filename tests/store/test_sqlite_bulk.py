"""Many rows per statement: the same rows as one by one, duplicates skipped and counted."""

from __future__ import annotations

import sqlite3

import pytest

from healthpod.store.imports.sqlite_bulk import ROWS_PER_STATEMENT, insert_columns


def table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, a, b, c, UNIQUE (k, a))")
    return conn


@pytest.mark.parametrize("n", [1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 3 * 32 + 5])
def test_rows_go_in_in_order_with_shared_values_bound_once(n: int) -> None:
    conn = table()
    added = insert_columns(
        conn,
        "t",
        {"k": 7},
        {"a": list(range(n))},
        {"b": ["same"] * n, "c": [float(i) for i in range(n)]},
    )
    assert added == n
    assert conn.execute("SELECT k, a, b, c FROM t ORDER BY id").fetchall() == [
        (7, i, "same", float(i)) for i in range(n)
    ]


def test_stored_and_repeated_rows_are_skipped_and_not_counted() -> None:
    conn = table()
    conn.execute("INSERT INTO t (k, a) VALUES (1, 3)")
    a = [i % 40 for i in range(100)]  # 40 distinct, 3 of them twice or more
    added = insert_columns(conn, "t", {}, {"a": a}, {"k": [1] * 100, "b": [None] * 100, "c": a})
    assert added == 39
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (40,)


def test_equal_but_different_values_are_not_shared() -> None:
    conn = table()
    insert_columns(conn, "t", {}, {"a": [1, 2]}, {"b": [0.0, -0.0], "c": [1, 1.0]})
    assert [str(b) for (b,) in conn.execute("SELECT b FROM t ORDER BY id")] == ["0.0", "-0.0"]
    assert [type(c) for (c,) in conn.execute("SELECT c FROM t ORDER BY id")] == [int, float]
