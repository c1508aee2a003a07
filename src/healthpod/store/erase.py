"""Delete everything of one person: every row of every table that is keyed by that person.

Tables are emptied in reverse dependency order, so foreign keys hold at every step on both
engines, and the whole erase is one transaction: it happens completely or not at all. Tables
added later are covered without a change here, because every table holding a person's data has
a `person_id` column (a test checks that nothing of the person remains anywhere).
Shared rows stay: actors, sample types and the server's signing keys belong to no one person.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, delete, select

from healthpod.errors import NotFound
from healthpod.store import rls, schema

logger = logging.getLogger(__name__)


def erase_person(conn: Connection, person_id: int) -> dict[str, int]:
    """Delete the person and all their rows; returns how many rows went from each table.

    Raises:
        NotFound: no person with this id.
    """
    rls.act_for(conn, person_id)
    persons = schema.persons
    if conn.scalar(select(persons.c.id).where(persons.c.id == person_id)) is None:
        raise NotFound(f"No person with id {person_id}.")
    usernames = list(
        conn.scalars(
            select(schema.accounts.c.username).where(schema.accounts.c.person_id == person_id)
        )
    )
    removed: dict[str, int] = {}
    for table in reversed(schema.metadata.sorted_tables):
        if table is persons or "person_id" not in table.c:
            continue
        count = conn.execute(delete(table).where(table.c.person_id == person_id)).rowcount
        if count:
            removed[table.name] = count
    # What the person may do for others goes with them (their own delegations went above).
    delegations = schema.delegations
    held = conn.execute(delete(delegations).where(delegations.c.delegate_id == person_id))
    if held.rowcount:
        removed["delegations"] = removed.get("delegations", 0) + held.rowcount
    throttle = schema.login_throttle
    for name in usernames:
        conn.execute(delete(throttle).where(throttle.c.key == f"account:{name}"))
    removed["persons"] = conn.execute(delete(persons).where(persons.c.id == person_id)).rowcount
    logger.info("erased person_id=%s tables=%d", person_id, len(removed))
    return removed
