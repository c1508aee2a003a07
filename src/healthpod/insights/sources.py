"""Sources (apps and devices) of a person: their order of priority, and what each has sent.

The priority decides which source counts where samples of a cumulative type overlap in time:
the lower number wins (1 is first, as at the top of the Health app's list). Sources an importer
creates later get the default 100 and so come after every source the person has ordered.

A type may have an order of its own (`source_type_priorities`, like the Health app's "Data
Sources & Access" for one type): the sources given a place for that type come first, in that
order, then the others in the person-wide order. So the phone can count first for steps while
the watch counts first for distance.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from healthpod.errors import InvalidRequest, NotFound
from healthpod.insights.measures import find_measure
from healthpod.store import sources as stored
from healthpod.store.person_data import Reader, Writer


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: int
    name: str
    kind: str
    priority: int
    rank: int  # 1 = wins over every other source
    samples: int
    first_ms: int | None
    last_ms: int | None
    types: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        from healthpod.insights.timefmt import iso_instant

        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "priority": self.priority,
            "rank": self.rank,
            "samples": self.samples,
            "first": iso_instant(self.first_ms),
            "last": iso_instant(self.last_ms),
            "types": list(self.types),
        }


def ranked_source_ids(read: Reader, type_code: str | None = None) -> list[int]:
    """The person's source ids, best first (priority, then the older source).

    With `type_code`, the sources with a place in that type's own order come first.
    """
    person_wide = stored.person_order(read)
    if type_code is None:
        return person_wide
    first = stored.type_order(read, type_code)
    return first + [i for i in person_wide if i not in set(first)]


def source_names(read: Reader) -> dict[int, str]:
    return stored.names(read)


def list_sources(read: Reader, type_code: str | None = None) -> list[SourceInfo]:
    """Every source of the person, best first, with how many samples of which types it sent.

    With `type_code`, in that type's order (`ranked_source_ids`); `priority` is then the place
    in the type's own order, or the person-wide priority for a source without one.
    """
    stats: dict[int, tuple[int, int | None, int | None, set[str]]] = {}
    for source_id, code, n, first, last in stored.sample_counts(read):
        total, lo, hi, types = stats.get(source_id, (0, None, None, set()))
        lo = first if lo is None else min(lo, first)
        hi = last if hi is None else max(hi, last)
        stats[source_id] = (total + n, lo, hi, types | {code})
    found = stored.listed(read)
    if type_code is not None:
        own = {sid: n for n, sid in enumerate(stored.type_order(read, type_code), start=1)}
        place = {sid: n for n, sid in enumerate(ranked_source_ids(read, type_code))}
        found = sorted(
            ((i, n, k, own.get(i, p)) for i, n, k, p in found), key=lambda row: place[row[0]]
        )
    result = []
    for rank, (source_id, name, kind, priority) in enumerate(found, start=1):
        n, first, last, types = stats.get(int(source_id), (0, None, None, set()))
        result.append(
            SourceInfo(
                int(source_id),
                str(name),
                str(kind),
                int(priority),
                rank,
                n,
                first,
                last,
                tuple(sorted(types)),
            )
        )
    return result


def _folded(name: str) -> str:
    # People type "Alex's iPhone" with a plain apostrophe and space; exports write U+2019, U+00A0.
    plain = unicodedata.normalize("NFKC", name).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(plain.split()).casefold()


def find_source(read: Reader, wanted: str) -> tuple[int, str]:
    """The (id, name) of the source named `wanted` (or with that id).

    Raises:
        NotFound: no source has that name.
        InvalidRequest: the name matches several sources.
    """
    names = source_names(read)
    digits = wanted.strip()
    if digits.isascii() and digits.isdigit() and int(digits) in names:
        return int(digits), names[int(digits)]
    exact = [(i, n) for i, n in names.items() if n == wanted]
    matches = exact or [(i, n) for i, n in names.items() if _folded(n) == _folded(wanted)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{i}: {n}" for i, n in sorted(names.items())) or "none yet"
    if not matches:
        raise NotFound(
            f"There is no source called {wanted!r}.",
            hint=f"Sources (id: name): {listing}. Use the name or the id.",
        )
    raise InvalidRequest(
        f"{wanted!r} matches {len(matches)} sources.",
        hint=f"Use the id instead. Sources (id: name): {listing}.",
    )


def set_priority(write: Writer, wanted: str, position: int) -> list[int]:
    """Put a source at `position` (1 = first) in the person's order and renumber the others.

    Returns the ids of the sources whose rank changed. Statistics kept per day are recomputed by
    the caller (`insights.summaries.refresh_sources`).

    Raises:
        NotFound: no source has that name.
        InvalidRequest: the position is not a whole number from 1 up.
    """
    if position < 1:
        raise InvalidRequest(
            f"Priority {position} is not possible.",
            hint="Use 1 for the source that should count first, 2 for the next, and so on.",
        )
    source_id, _ = find_source(write, wanted)
    before = ranked_source_ids(write)
    order = [i for i in before if i != source_id]
    order.insert(min(position, len(order) + 1) - 1, source_id)
    stored.set_person_order(write, order)
    return [sid for old, sid in zip(before, order, strict=True) if old != sid]


def set_type_priority(write: Writer, type_code: str, wanted: str, position: int) -> list[int]:
    """Put a source at `position` (1 = first) in the type's own order and renumber the others.

    The type's own order holds only the sources given a place in it; a position past its end
    puts the source last among them (still ahead of the sources without a place). Returns the
    ids of the sources whose rank for this type changed; the caller recomputes that type's
    daily statistics (`insights.summaries.refresh_type`).

    Raises:
        NotFound: no source has that name, or no type that code.
        InvalidRequest: the position is not a whole number from 1 up.
    """
    if position < 1:
        raise InvalidRequest(
            f"Priority {position} is not possible.",
            hint="Use 1 for the source that should count first, 2 for the next, and so on.",
        )
    measure = find_measure(write, type_code)
    source_id, _ = find_source(write, wanted)
    own = [i for i in stored.type_order(write, measure.code) if i != source_id]
    own.insert(min(position, len(own) + 1) - 1, source_id)
    return set_type_order(write, measure.code, own)


def set_type_order(write: Writer, type_code: str, source_ids: Sequence[int]) -> list[int]:
    """Make `source_ids` (best first) the type's own order; returns the ids whose rank changed.

    Raises:
        NotFound: no type has that code, or a source id is not the person's.
    """
    measure = find_measure(write, type_code)
    names = source_names(write)
    strangers = [i for i in source_ids if i not in names]
    if strangers:
        raise NotFound(f"There is no source with id {strangers[0]}.")
    before = ranked_source_ids(write, measure.code)
    stored.set_type_order(write, measure.type_id, source_ids)
    after = ranked_source_ids(write, measure.code)
    return [sid for old, sid in zip(before, after, strict=True) if old != sid]


def clear_type_priority(write: Writer, type_code: str) -> bool:
    """Drop the type's own order, so the person-wide order applies again; True if there was one.

    Raises:
        NotFound: no type has that code.
    """
    return stored.clear_type_order(write, find_measure(write, type_code).type_id)
