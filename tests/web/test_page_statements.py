"""How many SQL statements a page costs: a page that shows nine types must not ask the same
lookups for each of them, nor one query per type (on PostgreSQL each statement is a round
trip): the overview reads its nine types' days in one query and its findings' in another."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from healthpod.pod import Pod

from .conftest import HTML

# Measured on ten days of the demo person's data (18, 20 and 13 statements, of which 10 are
# the session with its account, the person's zone and each transaction's checks); the budgets
# leave room, not a free hand.
BUDGETS = {"/": 20, "/type/steps": 22, "/blood-pressure": 15}


@contextmanager
def counted(pod: Pod) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    # The read engine (PostgreSQL's autocommit one) shares the engine's listeners.
    event.listen(pod.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(pod.engine, "before_cursor_execute", count)


@pytest.mark.parametrize("path", sorted(BUDGETS))
def test_a_page_asks_each_lookup_once(pod: Pod, logged_in, ten_days, path: str) -> None:
    assert logged_in.get(path, headers=HTML).status_code == 200  # summaries caught up
    with counted(pod) as seen:
        response = logged_in.get(path, headers=HTML)
    assert response.status_code == 200
    assert len(seen) <= BUDGETS[path], "\n".join(seen)
    # The session's check reads the account with it: no second look-up of the account.
    assert not [s for s in seen if "FROM accounts" in s and "web_sessions" not in s]
    # The daily summaries are caught up once per page, not once per type shown.
    assert sum("summarized_imports" in s for s in seen) <= 1
    # Daily rows: one query per kind of thing read, however many types the page shows (the
    # overview: spans, days, the last day, the findings' rows, the sources' days).
    daily = [s for s in seen if "FROM daily_summaries" in s and "first_offset_min IS" not in s]
    assert len(daily) <= {"/": 5, "/type/steps": 2, "/blood-pressure": 2}[path], "\n".join(daily)
