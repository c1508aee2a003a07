"""Daily summaries brought up to date inside the import's own transaction, while it runs.

Exports list their samples type by type (the Health app's always does). So when a batch of
samples no longer holds a type that earlier batches added, that type is most likely done,
and its daily rows are computed right then: on a large import the parser in the other
process keeps going meanwhile, so the summaries cost almost no extra time. Each type is
summarized early at most once; anything added to it afterwards (a later batch, a
Correlation's record, another writer) makes it stale again, and `finish` recomputes every
type the import touched that is not both clean and covering what was added.

Summaries are derived data: if computing them fails, the import still commits, and the
first reader catches up (`insights.summaries.catch_up`), as it does for any import that was
not summarized.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from healthpod.insights import summaries

if TYPE_CHECKING:
    from healthpod.ingest.writers import ImportSession

logger = logging.getLogger(__name__)


def summarize_finished(session: ImportSession, current: set[str]) -> None:
    """Summarize the types added so far that the latest batch (`current`) no longer holds."""
    state = session.summary
    finished = [code for code in state.pending if code not in current and code not in state.early]
    if not finished:
        return
    ranges = {code: state.pending.pop(code) for code in finished}
    state.early.update(finished)
    if _refresh(session, ranges):
        # Clean only where every added sample is in the range (not so if another writer,
        # say a Correlation's, added some of the type).
        state.clean.update({c: span for c, span in ranges.items() if state.ranges_known(c)})


def finish(session: ImportSession) -> None:
    """At the end of the import: summarize what is left and mark the import summarized."""
    state = session.summary
    known = {code: span for code, span in state.pending.items() if state.ranges_known(code)}
    if known and _refresh(session, known):
        state.clean.update(known)
    # The types some of whose samples came through writers that keep no ranges (workouts,
    # correlations and activity summaries are counted here too but hold no samples).
    unknown = {code for code in state.added if code not in state.clean}
    added = (
        summaries.sample_ranges(session.conn, session.person_id, [session.import_id], unknown)
        if unknown
        else {}
    )
    clean = state.clean
    stale = {
        code: (lo, hi)
        for code, (lo, hi) in added.items()
        if code not in clean or not (clean[code][0] <= lo and hi <= clean[code][1])
    }
    if _refresh(session, stale):
        summaries.mark_summarized(session.conn, session.person_id, [session.import_id])


def _refresh(session: ImportSession, ranges: dict[str, tuple[int, int]]) -> bool:
    """Recompute the daily rows for `ranges` in a savepoint; False if that failed."""
    if not ranges:
        return True
    try:
        with session.conn.begin_nested():
            summaries.refresh(session.conn, session.person_id, ranges)
    except (SQLAlchemyError, ArithmeticError, ValueError):
        logger.warning(
            "daily summaries left for the next reader import_id=%s",
            session.import_id,
            exc_info=True,
        )
        return False
    return True
