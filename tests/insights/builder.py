"""Constructed data for statistics tests, written straight into the real tables.

Times are ISO 8601 local times with their offset ("2026-03-29T01:30+01:00"), as the producer
wrote them: the row keeps the UTC instant and the offset, exactly as an importer stores it.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import Engine, insert, select

from healthpod.store import persons, rls, schema
from healthpod.vocabulary import sample_type

_import_seq = itertools.count(1)


def instant(local: str) -> tuple[int, int]:
    """(UTC epoch ms, offset in minutes) of an ISO local time with offset."""
    moment = datetime.fromisoformat(local)
    offset = moment.utcoffset()
    assert offset is not None, f"{local} needs an offset"
    return int(moment.timestamp() * 1000), int(offset.total_seconds() // 60)


class Person:
    """One person's constructed samples; `save()` writes them in one transaction."""

    def __init__(self, engine: Engine, name: str = "me") -> None:
        self.engine = engine
        self.name = name
        self.rows: list[tuple[str, dict]] = []
        with engine.begin() as conn:
            found = persons.find_or_add(conn, name, now_ms=0)
        self.id = int(found)
        self.sources: dict[str, int] = {}

    def source(self, name: str, priority: int = 100) -> int:
        if name not in self.sources:
            with self.engine.begin() as conn:
                rls.act_for(conn, self.id)
                self.sources[name] = int(
                    conn.scalar(
                        insert(schema.sources)
                        .values(person_id=self.id, name=name, kind="device", priority=priority)
                        .returning(schema.sources.c.id)
                    )
                )
        return self.sources[name]

    def _type(self, conn, code: str) -> int:
        st = schema.sample_types
        found = conn.scalar(select(st.c.id).where(st.c.code == code))
        if found is None:
            known = sample_type(code)
            found = conn.scalar(
                insert(st)
                .values(
                    code=code,
                    kind=known.kind if known else "quantity",
                    unit=known.unit if known else "count",
                    known=1 if known else 0,
                )
                .returning(st.c.id)
            )
        return int(found)

    def _add(
        self,
        kind: str,
        code: str,
        start: tuple[int, int],
        end: tuple[int, int],
        source: str,
        **value,
    ) -> Person:
        self.rows.append(
            (
                kind,
                {
                    "code": code,
                    "start_ms": start[0],
                    "end_ms": end[0],
                    "start_offset_min": start[1],
                    "end_offset_min": end[1],
                    "source": source,
                    **value,
                },
            )
        )
        return self

    def quantity(
        self, code: str, start: str, end: str | None, value: float, source: str = "Watch"
    ) -> Person:
        begin = instant(start)
        return self._add("q", code, begin, instant(end) if end else begin, source, value=value)

    def quantity_ms(
        self, code: str, start_ms: int, end_ms: int, offset_min: int, value: float, source: str
    ) -> Person:
        return self._add(
            "q", code, (start_ms, offset_min), (end_ms, offset_min), source, value=value
        )

    def category(
        self, code: str, start: str, end: str, value_code: str, source: str = "Watch"
    ) -> Person:
        return self._add("c", code, instant(start), instant(end), source, value_code=value_code)

    def save(self) -> int:
        """Write the rows as one import; returns the import id."""
        for _, row in self.rows:
            self.source(row["source"])
        with self.engine.begin() as conn:
            rls.act_for(conn, self.id)
            import_id = int(
                conn.scalar(
                    insert(schema.imports)
                    .values(
                        person_id=self.id,
                        filename=f"constructed-{next(_import_seq)}",
                        sha256="0" * 64,
                        format="constructed",
                        status="completed",
                        added={},
                        unknown_types=[],
                        warnings=[],
                        started_ms=0,
                    )
                    .returning(schema.imports.c.id)
                )
            )
            quantities, categories = [], []
            for kind, row in self.rows:
                values = dict(row)
                values["type_id"] = self._type(conn, values.pop("code"))
                values["source_id"] = self.sources[values.pop("source")]
                values |= {"person_id": self.id, "import_id": import_id}
                if kind == "q":
                    values["unit"] = "x"
                    quantities.append(values)
                else:
                    categories.append(values)
            if quantities:
                conn.execute(insert(schema.quantity_samples), quantities)
            if categories:
                conn.execute(insert(schema.category_samples), categories)
        self.rows = []
        return import_id
