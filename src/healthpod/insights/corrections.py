"""The person corrects their data: marks records wrong (or takes the mark off) or deletes them,
and the daily summaries of the days touched are computed again in the same transaction, so
the statistics, baselines and findings read from them change with it and nothing is half
changed.

The edges (CLI, web) log each change as the person's own act.
"""

from __future__ import annotations

from healthpod.errors import InvalidRequest
from healthpod.insights import summaries
from healthpod.store import data_items
from healthpod.store.data_items import Bound
from healthpod.store.deletion import Deleted
from healthpod.store.marked_wrong import Change
from healthpod.store.person_data import Writer


def mark_wrong(write: Writer, targets: list[str], reason: str | None, *, now_ms: int) -> Change:
    """Mark `targets` wrong and bring the daily summaries of their days up to date.

    Raises:
        AccessDenied: not the person's own door.
        InvalidRequest: an id is not one of ours, or the reason too long.
        NotFound: an id is not one of the person's.
    """
    change = write.mark_wrong(targets, reason, now_ms=now_ms)
    summaries.refresh_days(write, change.ranges)
    return change


def unmark(write: Writer, targets: list[str]) -> Change:
    """Take the marks off `targets` and bring the daily summaries of their days up to date.

    Raises:
        AccessDenied: not the person's own door.
        NotFound: one of them is not marked wrong (nothing changes then).
    """
    change = write.unmark_wrong(targets)
    summaries.refresh_days(write, change.ranges)
    return change


def span(write: Writer, type_name: str, low: Bound | None, high: Bound | None) -> list[str]:
    """The ids of the type's items starting inside [low, high) (both ends needed).

    Raises:
        InvalidRequest: an end is missing, the span ends before it starts, or no such type.
    """
    if low is None or high is None:
        raise InvalidRequest(
            "A span needs both --from and --to.",
            hint="For example --type steps --from 2024-05-03T14:00 --to 2024-05-03T15:10.",
        )
    return [item.id for item in data_items.items(write, type_name, low, high)]


def delete_items(write: Writer, targets: list[str], *, now_ms: int) -> Deleted:
    """Delete single items (tombstoned) and bring the daily summaries of their days up to date.

    Raises:
        AccessDenied: not the person's own door.
        InvalidRequest: an id is not one of ours.
        NotFound: an id is not one of the person's, or deleted already.
    """
    gone = write.delete_items(targets, now_ms=now_ms)
    summaries.refresh_days(write, gone.ranges)
    return gone


def delete_import(write: Writer, import_id: int, *, now_ms: int) -> Deleted:
    """Delete an import with what it added and bring the daily summaries up to date.

    Raises:
        AccessDenied: not the person's own door.
        NotFound: no such import, deleted already, or still running.
    """
    gone = write.delete_import(import_id, now_ms=now_ms)
    summaries.refresh_days(write, gone.ranges)
    return gone
