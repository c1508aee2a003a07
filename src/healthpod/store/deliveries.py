"""Records a care provider delivered for one person: an import row the person sees in their
imports, and the resources with the provider as their source.

Reached only through the door (`Writer.add_delivery`), after the person's consent allowed the
provider to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from sqlalchemy import Connection, insert, update

from healthpod.store import resources, rls, schema

FORMAT = "fhir-delivery"
BATCH = 1000


def store(
    conn: Connection,
    person_id: int,
    inputs: Iterable[resources.ResourceInput],
    *,
    filename: str,
    sha256: str,
    now_ms: int,
) -> resources.WriteResult:
    """Store the resources under a new `imports` row of format `fhir-delivery`, in batches
    of BATCH (the caller's one transaction holds them all)."""
    rls.act_for(conn, person_id)
    import_id = conn.execute(
        insert(schema.imports)
        .values(
            person_id=person_id,
            filename=filename,
            sha256=sha256,
            format=FORMAT,
            status="completed",
            added={},
            unknown_types=[],
            warnings=[],
            started_ms=now_ms,
        )
        .returning(schema.imports.c.id)
    ).scalar_one()
    result = resources.WriteResult()
    pending = iter(inputs)
    while batch := list(islice(pending, BATCH)):
        done = resources.write(conn, person_id, batch, import_id=int(import_id), now_ms=now_ms)
        result.added.update(done.added)
        result.updated.update(done.updated)
        result.unchanged.update(done.unchanged)
    conn.execute(
        update(schema.imports)
        .where(schema.imports.c.id == import_id)
        .values(
            added=dict(result.added + result.updated),
            already_present=sum(result.unchanged.values()),
            finished_ms=now_ms,
        )
    )
    return result
