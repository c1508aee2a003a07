"""Daily summaries brought up to date inside the import's own transaction, while it runs.

Exports list their samples type by type (the Health app's always does). So when a batch of
samples no longer holds a type that earlier batches added, that type is most likely done,
and its daily rows are computed right then: on a large import the parser in the other
process keeps going meanwhile, so the summaries cost almost no extra time. Each type is
summarized early at most once; anything added to it afterwards (a later batch, a
Correlation's record, another writer) makes it stale again, and `finish` recomputes every
type the import touched that is not both clean and covering what was added.

While the samples of a quantity type that this import adds are all the store holds of it,
the writer keeps them as arrays (`hold`), and the type's daily rows are computed from those
instead of reading back what was just written (reading back cost about as much as writing).
They are let go as soon as the type is summarized, or once that stops being true: a sample
already stored, another writer's samples of the type, samples of it stored before.

Summaries are derived data: if computing them fails, the import still commits, and the
first reader catches up (`insights.summaries.catch_up`), as it does for any import that was
not summarized.

How a day's rows are computed is the statistics' business (`insights.summaries`); the import
is given it as a `session.DailySummaries` (`ImportSession.summaries`), so the store does not import
the domain above it. Without one, nothing is summarized here and the first reader catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError

from healthpod.store import daily_summaries, samples, schema
from healthpod.store.imports.session import Held
from healthpod.store.sample_columns import Columns

if TYPE_CHECKING:
    from healthpod.store.imports.session import ImportSession

logger = logging.getLogger(__name__)


# Beyond this many samples of one type (about 40 MB of arrays) the writer lets them go and
# reads them back instead: memory stays bounded however large the export.
MAX_HELD_SAMPLES = 1_000_000


def may_hold(session: ImportSession, type_code: str, type_id: int) -> bool:
    """Whether to keep the quantity samples of the type about to be written (`hold`): yes
    while every one the store holds of it came through `hold` in this import."""
    state = session.summary
    if session.summaries is None:
        return False
    if type_code in state.held:
        return True
    if type_code in state.unheld:
        return False
    q = schema.quantity_samples
    stored = session.conn.scalar(
        select(literal(1))
        .where(q.c.person_id == session.person_id, q.c.type_id == type_id)
        .limit(1)
    )
    if stored is not None:
        state.unheld.add(type_code)
        return False
    state.held[type_code] = Held()
    return True


def hold(session: ImportSession, type_code: str, part: Columns, added: int) -> None:
    """Keep the samples just written, if all of them were new (else let the type go)."""
    state = session.summary
    held = state.held.get(type_code)
    if held is None:
        return
    if added != len(part) or held.count + len(part) > MAX_HELD_SAMPLES:
        del state.held[type_code]
        state.unheld.add(type_code)
        return
    held.add(part)


def _take_held(session: ImportSession, codes: Collection[str]) -> dict[str, Columns]:
    """The held samples of the types about to be summarized, where they are all the store
    holds of them; the rest of those types' samples will be read back."""
    state = session.summary
    found = {}
    for code in codes:
        held = state.held.pop(code, None)
        if held is None:
            continue
        state.unheld.add(code)
        if held.count == state.added[code]:  # no other writer added any
            found[code] = held.columns()
    return found


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
    summaries = session.summaries
    if summaries is None:
        return
    known = {code: span for code, span in state.pending.items() if state.ranges_known(code)}
    if known and _refresh(session, known):
        state.clean.update(known)
    # The types some of whose samples came through writers that keep no ranges (workouts,
    # correlations and activity summaries are counted here too but hold no samples).
    unknown = {code for code in state.added if code not in state.clean}
    added = samples.ranges(session.owner, [session.import_id], unknown) if unknown else {}
    clean = state.clean
    stale = {
        code: (lo, hi)
        for code, (lo, hi) in added.items()
        if code not in clean or not (clean[code][0] <= lo and hi <= clean[code][1])
    }
    if _refresh(session, stale):
        daily_summaries.mark_summarized(session.owner, [session.import_id])


def _refresh(session: ImportSession, ranges: dict[str, tuple[int, int]]) -> bool:
    """Recompute the daily rows for `ranges` in a savepoint; False if that failed."""
    if not ranges:
        return True
    if session.summaries is None:
        return False
    try:
        held = _take_held(session, ranges)
        with session.conn.begin_nested():
            session.summaries.refresh_days(session.owner, ranges, held)
    except (SQLAlchemyError, ArithmeticError, ValueError):
        logger.warning(
            "daily summaries left for the next reader import_id=%s",
            session.import_id,
            exc_info=True,
        )
        return False
    return True
