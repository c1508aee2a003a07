"""Storing a route file's points as the route of the workout that names the file.

Apple's export.xml names each workout's route file (`<FileReference path="/workout-routes/…">`),
which the workout row keeps as `route.file`; the file itself comes later in the archive. Its
points are added to the route of every workout of the person that names it, whichever import
stored the workout, so an export imported before routes were read gets them on the next
import. A route that already has points is left as it is (importing twice adds nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from healthpod.store import schema
from healthpod.store.imports.items import RouteFile, Warning_
from healthpod.store.imports.session import ImportSession

ROUTE_TYPE = "workout_route"


def write_route_files(session: ImportSession, files: Sequence[RouteFile]) -> None:
    w = schema.workouts
    for route_file in files:
        found = session.conn.execute(
            select(w.c.id, w.c.route).where(
                w.c.person_id == session.person_id,
                w.c.route["file"].as_string() == route_file.path,
            )
        ).all()
        if not found:
            session.tally.warnings.append(
                Warning_(route_file.path, "no workout names this route file; it was not stored")
            )
        added = 0
        for workout_id, route in found:
            if not isinstance(route, dict) or route.get("points"):
                continue
            session.conn.execute(
                update(w)
                .where(w.c.person_id == session.person_id, w.c.id == workout_id)
                .values(route={**route, "points": route_file.points})
            )
            added += 1
        session.count(ROUTE_TYPE, added, len(found))
