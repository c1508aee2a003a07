"""The one door to a person's data: who reads, for whom, within which scope.

    data = consent.access.open_for_actor(pod, request, event=..., now_ms=...)  # decided, logged
    data = person_data.for_owner(pod.engine, pod.reads, person_id)             # the person's own
    with data.reader() as read:
        rows = read.samples(SampleFilter(...), after=None, limit=100)

A `PersonData` is made in exactly two ways: by `consent.access.open_for_actor` after the consent
decision and its committed access-log entry, and by `for_owner` for the person's own signed-in
session (web login, the CLI). Everything that reads or writes a person's health data (the FHIR
API, the JSON API, the web pages, the insights, the export) receives one and calls its reader or
writer; the reader hands the carried `Scope` to the store's queries, which turn it into SQL in
`scope_sql`. No other package holds SQL over a person's data, and a test checks that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, select

from healthpod.consent.model import (
    ALL_CATEGORIES,
    AccessRequest,
    Action,
    Decision,
    Granularity,
    Scope,
)
from healthpod.errors import AccessDenied
from healthpod.store import (
    daily_observations,
    deletion,
    deliveries,
    marked_wrong,
    moved_history,
    observations,
    person_tables,
    resources,
    restrictions,
    rls,
    schema,
    scope_sql,
)
from healthpod.store.observations import DailyRow, Key, SampleFilter, SampleRow
from healthpod.store.resource_index import category_of

OWNER_SCOPE = Scope(
    categories=ALL_CATEGORIES,
    granularity=Granularity.RAW,
    actions=frozenset({Action.READ, Action.WRITE}),
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Accessor:
    """Who goes through the door: the person themselves, or an actor under a consent."""

    actor_id: int | None = None  # None: the person
    consent_id: int | None = None
    reason: str = "the person's own access"
    decision: Decision | None = None  # as logged (what `returned` entries refer to)
    asked: AccessRequest | None = None
    via: str | None = None  # a share link's holder or a delegation: not the person either
    delegate_id: int | None = None  # the person acting for this one (a delegate, a guardian)

    @property
    def is_person(self) -> bool:
        return self.actor_id is None and self.via is None and self.delegate_id is None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the person is, as far as the scope shows it (all None without `identity`)."""

    person_id: int
    name: str | None
    birth_date: date | None
    sex: str | None
    shown: bool  # False: the scope does not cover identity; only the id may be shown


@dataclass(frozen=True, slots=True)
class PersonData:
    """A person's data as one accessor may see it. Make one with `for_owner` or through
    `consent.access.open_for_actor`, never directly."""

    engine: Engine
    reads: Engine
    person_id: int
    scope: Scope
    accessor: Accessor
    owner: bool = False  # True only from `for_owner`: the person's own door
    narrowed: bool = False  # the scope already holds the restrictions and what is marked wrong

    @contextmanager
    def reader(self, *, remember: bool = False) -> Iterator[Reader]:
        """Reads outside a write transaction (the pod's read engine); `remember`: see
        `Reader.remembered` (for a page that asks the same lookups many times)."""
        with self.reads.connect() as conn:
            rls.act_for(conn, self.person_id)
            yield Reader(
                conn, self.person_id, self._scope(conn), owner=self.owner, remember=remember
            )

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """Reads in one transaction: a consistent view for long reads such as an export.

        A change committed while it runs (a mark, a restriction, a deletion) is not seen: on
        PostgreSQL the transaction is REPEATABLE READ, on SQLite (WAL) a read transaction
        sees the database as at its first read. The export finishes from its snapshot.
        """
        engine = self.engine
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.begin() as conn:
            rls.act_for(conn, self.person_id)
            yield Reader(conn, self.person_id, self._scope(conn), owner=self.owner)

    @contextmanager
    def writer(self, *, remember: bool = False) -> Iterator[Writer]:
        """One transaction that reads and writes; committed when the block ends. `remember`:
        see `Reader.remembered` (for a page's transaction, never an import's)."""
        with self.engine.begin() as conn:
            rls.act_for(conn, self.person_id)
            yield Writer(
                conn, self.person_id, self._scope(conn), owner=self.owner, remember=remember
            )

    def _scope(self, conn: Connection) -> Scope:
        """The scope with what the person marked "only me" taken out of it, read in the
        reader's own connection (so a restriction counts from the next reader on); the
        person's own door sees everything. What the person marked wrong is out of every
        scope, the person's own too. A door opened with both read in its decision's
        transaction (`narrowed`) needs no second look; any other actor's door reads both in
        one query."""
        if self.narrowed:
            return self.scope
        if self.owner:
            if scope_sql.any_marked_wrong(conn, self.person_id):
                return replace(self.scope, hides_wrong=True)
            return self.scope
        return restrictions.narrow(conn, self.person_id, self.scope)


def for_owner(engine: Engine, reads: Engine, person_id: int) -> PersonData:
    """The person's own door: every category, raw data, read and write, no consent involved
    (it is not an access by someone else)."""
    return PersonData(engine, reads, person_id, OWNER_SCOPE, Accessor(), owner=True)


def owner_writer(conn: Connection, person_id: int) -> Writer:
    """The person's own writer over a transaction the store already holds: an import's, which
    brings the daily summaries up to date as it writes (the import is the person's own act)."""
    rls.act_for(conn, person_id)
    return Writer(conn, person_id, OWNER_SCOPE, owner=True)


def unscoped(read: Reader) -> Connection:
    """The reader's connection, for a query that does not apply the scope (the statistics,
    the sources, the person's own pages): the person's own door, or a door whose scope is
    everything the person has (a delegate's, when nothing is marked "only me"), may run those.

    Raises:
        AccessDenied: the reader's scope leaves something out (an actor's consent, a share
            link, or a delegate's door of a person who marked something "only me").
    """
    if not read.owner and not _whole(read.scope):
        raise AccessDenied("Only the person can read this view of their data.")
    return read.conn


def person_only(read: Reader) -> Connection:
    """The reader's connection, for what only the person themselves may do or see (what they
    marked "only me", all their tables).

    Raises:
        AccessDenied: this is not the person's own door.
    """
    if not read.owner:
        raise AccessDenied("Only the person can do this.")
    return read.conn


def _whole(scope: Scope) -> bool:
    """Whether `scope` leaves nothing of the person's data out."""
    return (
        scope.categories >= ALL_CATEGORIES
        and scope.granularity is Granularity.RAW
        and scope.data_from_ms is None
        and scope.data_to_ms is None
        and scope.observation_categories is None
        and not scope.hidden_types
        and not scope.hides_records
    )


def _for_decision(
    engine: Engine,
    reads: Engine,
    person_id: int,
    scope: Scope,
    accessor: Accessor,
    *,
    narrowed: bool = False,
) -> PersonData:
    """Only `consent.access` calls this: `open_for_actor` and `open_for_link` after the
    decision is logged, `decide_for_actor` after a decision it logs with what is returned.
    `narrowed`: `scope` already holds the person's restrictions and what they marked wrong
    (`restrictions.narrow`)."""
    return PersonData(engine, reads, person_id, scope, accessor, narrowed=narrowed)


@dataclass(frozen=True, slots=True)
class CohortData:
    """Many persons' data as one actor may see it, each person within their own decision's
    scope (a study's cohort). Made only by `consent.access.open_for_cohort`, after every
    person's decision is logged; it holds only the persons who were allowed."""

    engine: Engine
    reads: Engine
    scopes: Mapping[int, Scope]  # person id → the decision's scope, restrictions in it
    accessors: Mapping[int, Accessor]

    @property
    def person_ids(self) -> list[int]:
        return sorted(self.scopes)

    def daily(self, found: SampleFilter, *, limit: int) -> dict[int, list[DailyRow]]:
        """Each person's daily summaries (oldest first, at most `limit` each) in one query:
        person id → rows; a person with none in their scope is left out."""
        with self.reads.connect() as conn:
            return daily_observations.search_cohort(conn, self.scopes, found, limit=limit)

    def daily_means(
        self,
        found: SampleFilter,
        *,
        bounds: tuple[float, float],
        limit: int,
        per_month: bool = False,
    ) -> dict[int, daily_observations.Means]:
        """Each person's mean of `daily`'s values (`DailyRow.value`, clamped to `bounds`),
        and per month if asked, for an aggregate: person id → their means."""
        with self.reads.connect() as conn:
            return daily_observations.means_cohort(
                conn, self.scopes, found, bounds=bounds, limit=limit, per_month=per_month
            )

    def grouping_traits(self, on: date) -> dict[int, tuple[int | None, str | None]]:
        """Each allowed person's decade of age on `on` (30 for 30-39) and sex, None for what
        is not stored, in one query (row-level security's `cohort` scope): person id →
        (decade, sex). Only what a study's answer may be grouped by, inside the pod: never
        released per person (no birth date, no name), so it is given whatever the scope says
        of identity; only an answer's groups are built from it."""
        p = schema.persons
        found: dict[int, tuple[int | None, str | None]] = dict.fromkeys(self.scopes, (None, None))
        with self.reads.connect() as conn, rls.scoped(conn, "cohort"):
            rows = conn.execute(
                select(p.c.id, p.c.birth_date, p.c.sex).where(
                    scope_sql.among(p.c.id, conn.dialect.name)
                ),
                {"ids": scope_sql.ids_value(conn.dialect.name, sorted(self.scopes))},
            )
            for person_id, birth, sex in rows:
                found[int(person_id)] = (_decade(birth, on), sex)
        return found

    def door(self, person_id: int) -> PersonData:
        """One person's door within their logged decision (for reads a cohort query does
        not offer).

        Raises:
            AccessDenied: the person is not one of those allowed.
        """
        if person_id not in self.scopes:
            raise AccessDenied("This person's data is not part of the cohort's answer.")
        return PersonData(
            self.engine,
            self.reads,
            person_id,
            self.scopes[person_id],
            self.accessors[person_id],
            narrowed=True,
        )


def _for_cohort(
    engine: Engine,
    reads: Engine,
    scopes: Mapping[int, Scope],
    accessors: Mapping[int, Accessor],
) -> CohortData:
    """Only `consent.access.open_for_cohort` calls this, after the decisions are logged;
    `scopes` already hold each person's restrictions and what they marked wrong."""
    return CohortData(engine, reads, scopes, accessors)


def _decade(birth: date | None, on: date) -> int | None:
    """The decade of an age on `on` (30 for 30-39), or None without a birth date before it."""
    if birth is None or birth > on:
        return None
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return years // 10 * 10


class Reader:
    """Queries over one connection, every one of them inside the scope."""

    __slots__ = ("_memo", "conn", "owner", "person_id", "scope")

    def __init__(
        self,
        conn: Connection,
        person_id: int,
        scope: Scope,
        *,
        owner: bool = False,
        remember: bool = False,
    ) -> None:
        self.conn = conn
        self.person_id = person_id
        self.scope = scope
        self.owner = owner  # the person's own door (`for_owner`)
        self._memo: dict[Hashable, Any] | None = {} if remember else None

    # --- lookups asked many times in one page ----------------------------------------------

    def remembered(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, once per transaction when the reader was opened with `remember`.

        For lookups that only an import or a recomputation of daily rows changes (the stored
        types, the source names, a type's span of days, "the summaries are caught up"): a page
        that shows nine types asks each of them a dozen times. Imports never remember (their
        writers are made without it); `forget` drops everything after daily rows change.
        """
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return cast("T", self._memo[key])

    def knows(self, key: Hashable) -> bool:
        """Whether `remembered(key, …)` would answer without computing."""
        return self._memo is not None and key in self._memo

    def remember(self, key: Hashable, value: Any) -> None:
        """Keep `value` as `remembered(key, …)` would (one query answered several lookups)."""
        if self._memo is not None:
            self._memo[key] = value

    def forget(self) -> None:
        """Drop what `remembered` kept (the daily rows or the imports just changed)."""
        if self._memo:
            self._memo.clear()

    # --- who the person is ----------------------------------------------------------------

    def identity(self) -> Identity | None:
        """The person, or None when there is no such person."""
        p = schema.persons
        row = self.conn.execute(
            select(p.c.name, p.c.birth_date, p.c.sex).where(p.c.id == self.person_id)
        ).first()
        if row is None:
            return None
        if not self.scope.sees_identity:
            return Identity(self.person_id, None, None, None, shown=False)
        return Identity(self.person_id, row.name, row.birth_date, row.sex, shown=True)

    # --- samples and daily summaries -----------------------------------------------------

    def visible_types(self, wanted: frozenset[str] | None = None) -> dict[str, int]:
        return scope_sql.visible_types(self.conn, self.scope, wanted)

    def samples(
        self, found: SampleFilter, *, after: Key | None, limit: int, descending: bool = False
    ) -> list[SampleRow]:
        return observations.search_samples(
            self.conn,
            self.person_id,
            self.scope,
            found,
            after=after,
            limit=limit,
            descending=descending,
        )

    def quantity_pages(self, type_code: str, *, page: int) -> Iterator[list[tuple[Any, ...]]]:
        """Every quantity sample of the type inside the scope, a page of driver tuples at a
        time (`store.observations.quantity_pages`)."""
        return observations.quantity_pages(
            self.conn, self.person_id, self.scope, type_code, page=page
        )

    def count_samples(self, found: SampleFilter) -> int:
        return observations.count_samples(self.conn, self.person_id, self.scope, found)

    def daily(
        self, found: SampleFilter, *, after: Key | None, limit: int, descending: bool = False
    ) -> list[DailyRow]:
        return daily_observations.search(
            self.conn,
            self.person_id,
            self.scope,
            found,
            after=after,
            limit=limit,
            descending=descending,
        )

    def count_daily(self, found: SampleFilter) -> int:
        return daily_observations.count(self.conn, self.person_id, self.scope, found)

    def daily_by_id(self, fhir_id: str) -> DailyRow | None:
        return daily_observations.read(self.conn, self.person_id, self.scope, fhir_id)

    # --- records from healthcare ---------------------------------------------------------

    def resource(self, resource_type: str, fhir_id: str) -> resources.StoredResource | None:
        return resources.read(self.conn, self.person_id, resource_type, fhir_id, scope=self.scope)

    def resource_types(self) -> list[str]:
        """The types of record from healthcare the scope shows any of."""
        if self.scope.daily_only:
            return []
        return [
            t
            for t in person_tables.resource_types(self.conn, self.person_id)
            if self.search_resources(t, limit=0).total
        ]

    def restricted(self) -> list[restrictions.Restriction]:
        """What the person marked "only me" (the person's own door only).

        Raises:
            AccessDenied: this is not the person's own access.
        """
        return restrictions.listing(person_only(self), self.person_id)

    def marked_wrong(self) -> list[marked_wrong.Mark]:
        """What the person marked wrong (the person's own door only).

        Raises:
            AccessDenied: this is not the person's own access.
        """
        return marked_wrong.listing(person_only(self), self.person_id)

    def check_item(self, target: str) -> None:
        """That `target` (q-1, c-2, bp-3, w-4, Condition/abc) is an item of the person's.

        Raises:
            InvalidRequest: not an id of ours.
            NotFound: the person has no such item.
        """
        marked_wrong.resolve(self.conn, self.person_id, target)

    def previous_pod(self) -> moved_history.PreviousPod:
        """The history the person brought from pods they moved from (read-only).

        Raises:
            AccessDenied: this is not the person's own door.
        """
        return moved_history.previous_pod(person_only(self), self.person_id)

    def restriction_counts(self) -> restrictions.Counts:
        """How many types and records are kept from everyone but the person (any door: a
        consent screen says that such things exist, never what they are)."""
        return restrictions.counts(self.conn, self.person_id)

    def table_rows(self) -> Iterator[person_tables.TableRows]:
        """Every row of the person's tables, as stored; the person's own door only.

        Raises:
            AccessDenied: this is not the person's own access.
        """
        if not self.owner:
            raise AccessDenied("Only the person can download all of their tables.")
        return person_tables.table_rows(self.conn, self.person_id)

    def search_resources(self, resource_type: str | None, **criteria: Any) -> resources.SearchPage:
        """`store.resources.search` inside the scope; `criteria` as that function takes."""
        return resources.search(
            self.conn, self.person_id, resource_type, scope=self.scope, **criteria
        )


class Writer(Reader):
    """A reader inside a write transaction."""

    __slots__ = ()

    def add_resource(
        self, resource: dict[str, Any], *, provenance: str, organisation: str, now_ms: int
    ) -> dict[str, Any]:
        """Store one resource written by the accessor and return it as stored.

        Raises:
            AccessDenied: the scope does not allow writing, or not data of its category.
        """
        category = category_of(resource).value
        if Action.WRITE not in self.scope.actions or not self.scope.covers_category(category):
            raise AccessDenied(
                f"The consent does not let this app add {category} data.",
                hint="Ask the person for a consent that covers it.",
            )
        item = resources.ResourceInput(
            resource,
            provenance=provenance,  # type: ignore[arg-type]
            organisation=organisation,
        )
        resources.write(self.conn, self.person_id, [item], now_ms=now_ms)
        # Read back what the accessor just wrote, whatever the data window says.
        own = replace(self.scope, data_from_ms=None, data_to_ms=None)
        found = resources.read(
            self.conn, self.person_id, str(resource["resourceType"]), resource["id"], scope=own
        )
        assert found is not None
        return found.resource

    def add_delivery(
        self,
        delivered: Iterable[dict[str, Any]],
        *,
        organisation: str,
        filename: str,
        sha256: str,
        now_ms: int,
    ) -> tuple[resources.WriteResult, Counter[str]]:
        """Store the records a care provider delivered for this person, as one import.

        Only resources of categories the consent lets the provider write are stored; the
        others are counted per type and left out. `delivered` is read once, in batches.

        Raises:
            AccessDenied: the scope does not allow writing at all.
        """
        if Action.WRITE not in self.scope.actions:
            raise AccessDenied(
                "The consent does not let this provider write.",
                hint="Ask the person for a consent that allows deliveries.",
            )
        left_out: Counter[str] = Counter()

        def kept() -> Iterator[resources.ResourceInput]:
            for resource in delivered:
                if self.scope.covers_category(category_of(resource).value):
                    yield resources.ResourceInput(
                        resource, provenance="professional", organisation=organisation
                    )
                else:
                    left_out[str(resource.get("resourceType"))] += 1

        result = deliveries.store(
            self.conn, self.person_id, kept(), filename=filename, sha256=sha256, now_ms=now_ms
        )
        return result, left_out

    def restrict(self, types: list[str], records: list[str], *, now_ms: int) -> list[str]:
        """Mark types and records "only me" (`store.restrictions.add`); the person's door only.

        Raises:
            AccessDenied: this is not the person's own access.
            InvalidRequest: a name is not a type, or an id not a record id.
            NotFound: a record id is not one of the person's.
        """
        person_only(self)
        return restrictions.add(self.conn, self.person_id, types, records, now_ms=now_ms)

    def unrestrict(self, types: list[str], records: list[str]) -> list[str]:
        """Lift "only me" from types and records (`store.restrictions.remove`).

        Raises:
            AccessDenied: this is not the person's own access.
            NotFound: one of them is not restricted (nothing is lifted then).
        """
        person_only(self)
        return restrictions.remove(self.conn, self.person_id, types, records)

    def mark_wrong(
        self, targets: list[str], reason: str | None, *, now_ms: int
    ) -> marked_wrong.Change:
        """Mark records wrong (`store.marked_wrong.mark`); the person's door only.

        Raises:
            AccessDenied: this is not the person's own access.
            InvalidRequest: an id is not one of ours, or the reason too long.
            NotFound: an id is not one of the person's.
        """
        person_only(self)
        return marked_wrong.mark(self.conn, self.person_id, targets, reason, now_ms=now_ms)

    def unmark_wrong(self, targets: list[str]) -> marked_wrong.Change:
        """Take the marks off (`store.marked_wrong.unmark`); the person's door only.

        Raises:
            AccessDenied: this is not the person's own access.
            NotFound: one of them is not marked wrong (nothing is unmarked then).
        """
        person_only(self)
        return marked_wrong.unmark(self.conn, self.person_id, targets)

    def delete_items(self, targets: list[str], *, now_ms: int) -> deletion.Deleted:
        """Delete single items, leaving tombstones (`store.deletion.delete_items`).

        Raises:
            AccessDenied: this is not the person's own access.
            InvalidRequest: an id is not one of ours.
            NotFound: an id is not one of the person's, or deleted already.
        """
        person_only(self)
        return deletion.delete_items(self.conn, self.person_id, targets, now_ms=now_ms)

    def delete_import(self, import_id: int, *, now_ms: int) -> deletion.Deleted:
        """Delete an import with everything it added (`store.deletion.delete_import`).

        Raises:
            AccessDenied: this is not the person's own access.
            NotFound: no such import of the person's, deleted already, or still running.
        """
        person_only(self)
        return deletion.delete_import(self.conn, self.person_id, import_id, now_ms=now_ms)

    def tombstones(self) -> list[deletion.Tombstone]:
        """What the person deleted, as imports will keep it deleted.

        Raises:
            AccessDenied: this is not the person's own access.
        """
        return deletion.listing(person_only(self), self.person_id)

    def lift_tombstones(self, ids: list[int] | None) -> int:
        """Let an import bring deleted data back (None: all of it); how many were lifted.

        Raises:
            AccessDenied: this is not the person's own access.
            NotFound: an id is not one of the person's tombstones.
        """
        return deletion.lift(person_only(self), self.person_id, ids)

    def savepoint(self) -> Any:
        """A nested transaction (`with write.savepoint():`): rolled back alone if it fails."""
        return self.conn.begin_nested()
