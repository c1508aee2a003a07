"""Persons, imports, grants, narrowing, revocations, time passing and requests, against a model.

Runs on a real database (SQLite and PostgreSQL) through the same path the FHIR API uses
(`access.open_for_actor`, then the door's reader with the decision's scope): nothing outside a valid
consent is ever allowed or returned, the chosen consent, its scope and the rows returned are
exactly what the plain model says, and every request and change has its log entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, insert, select
from tests.conftest import as_superuser

from healthpod.consent import (
    AccessRequest,
    Action,
    Granularity,
    Scope,
    access,
    actors,
    audit,
    store,
)
from healthpod.consent.model import ALL_CATEGORIES, IDENTITY, Reach
from healthpod.errors import AccessDenied, Conflict, NotFound
from healthpod.store import persons, rls, schema
from healthpod.store.observations import SampleFilter
from healthpod.store.scope_sql import type_category
from healthpod.vocabulary import sample_type

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_800_000_000_000
CATEGORIES = ["activity", "heart", "body", "sleep", "lab-results", "identity"]
SAMPLE_TYPES = ["steps", "heart_rate", "body_mass"]  # activity, heart, body
SAMPLE_TIMES = [NOW - 20 * DAY, NOW - 5 * DAY, NOW + 150 * DAY]  # around the data windows


@dataclass(frozen=True)
class Plain:
    """A consent as the model keeps it: plain values, no code shared with the engine."""

    id: int
    person: int
    actor: int
    categories: frozenset[str]
    actions: frozenset[str]
    data_from: int | None
    data_to: int | None
    daily: bool
    start: int
    until: int | None
    revoked: bool = False

    def valid(self, now: int) -> bool:
        return not self.revoked and self.start <= now and (self.until is None or now < self.until)


def add_person(conn, name: str) -> int:
    return persons.add(conn, name, now_ms=0)


def add_actor(conn, name: str) -> int:
    registration = actors.register(
        conn,
        name=name,
        kind="app",
        purpose="dpv:ServiceProvision",
        redirect_uris=["https://app.example/cb"],
        public=True,
        now_ms=0,
    )
    return registration.actor.id


def add_sample(conn, person: int, code: str, at: int, value: float) -> int:
    """One quantity sample, imported the way an importer stores it (type, source, import)."""
    known = sample_type(code)
    assert known is not None
    types, sources, imports = schema.sample_types, schema.sources, schema.imports
    rls.act_for(conn, person)
    type_id = conn.scalar(select(types.c.id).where(types.c.code == code))
    if type_id is None:
        type_id = conn.execute(
            insert(types).values(code=code, kind="quantity", unit=known.unit).returning(types.c.id)
        ).scalar_one()
    source_id = conn.scalar(
        select(sources.c.id).where(sources.c.person_id == person, sources.c.name == "Watch")
    )
    if source_id is None:
        source_id = conn.execute(
            insert(sources).values(person_id=person, name="Watch").returning(sources.c.id)
        ).scalar_one()
    import_id = conn.execute(
        insert(imports)
        .values(
            person_id=person,
            filename="export.xml",
            sha256=f"{person:032x}{int(value):032x}",
            format="test",
            status="completed",
            added={code: 1},
            unknown_types=[],
            warnings=[],
            started_ms=at,
        )
        .returning(imports.c.id)
    ).scalar_one()
    q = schema.quantity_samples
    return conn.execute(
        insert(q)
        .values(
            person_id=person,
            type_id=type_id,
            start_ms=at,
            end_ms=at,
            start_offset_min=60,
            end_offset_min=60,
            source_id=source_id,
            import_id=import_id,
            value=value,
            unit=known.unit,
        )
        .returning(q.c.id)
    ).scalar_one()


def make_machine(engine):
    runs = iter(range(10**6))

    class ConsentMachine(RuleBasedStateMachine):
        consents = Bundle("consents")

        @initialize()
        def setup(self):
            with engine.begin() as conn:
                run = next(runs)
                self.persons = [add_person(conn, f"p{run}-{i}") for i in range(2)]
                self.actors = [add_actor(conn, f"actor {i}") for i in range(2)]
            self.now = NOW
            self.model: dict[int, Plain] = {}
            self.samples: list[tuple[int, int, str, int]] = []  # row id, person, category, at
            with engine.begin() as conn:  # data for everyone, so every read has rows to get wrong
                for person in self.persons:
                    for code in SAMPLE_TYPES:
                        for at in SAMPLE_TIMES:
                            self.add(conn, person, code, at)
            self.log_count = dict.fromkeys(self.persons, 0)

        @rule(
            target=consents,
            who=st.integers(0, 1),
            actor=st.integers(0, 1),
            categories=st.sets(st.sampled_from(CATEGORIES), min_size=1),
            write=st.booleans(),
            daily=st.booleans(),
            data_from=st.sampled_from([None, NOW - 10 * DAY]),
            data_to=st.sampled_from([None, NOW + 100 * DAY]),
            starts_in=st.sampled_from([0, 0, HOUR]),
            lasts=st.sampled_from([None, HOUR, DAY, 3 * DAY]),
        )
        def grant(self, who, actor, categories, write, daily, data_from, data_to, starts_in, lasts):
            person, actor_id = self.persons[who], self.actors[actor]
            actions = {Action.READ, Action.WRITE} if write else {Action.READ}
            scope = Scope(
                frozenset(categories),
                data_from,
                data_to,
                Granularity.DAILY if daily else Granularity.RAW,
                frozenset(actions),
            )
            start = self.now + starts_in
            until = None if lasts is None else start + lasts
            with engine.begin() as conn:
                c = store.grant(
                    conn,
                    person,
                    actor_id,
                    scope,
                    valid_from_ms=start,
                    valid_until_ms=until,
                    now_ms=self.now,
                )
            self.model[c.id] = Plain(
                c.id,
                person,
                actor_id,
                frozenset(categories),
                frozenset(a.value for a in actions),
                data_from,
                data_to,
                daily,
                start,
                until,
            )
            self.log_count[person] += 1
            return c.id

        @rule(
            who=st.integers(0, 1),
            type_code=st.sampled_from(SAMPLE_TYPES),
            at=st.sampled_from(SAMPLE_TIMES),
        )
        def import_a_sample(self, who, type_code, at):
            with engine.begin() as conn:
                self.add(conn, self.persons[who], type_code, at)

        def add(self, conn, person, type_code, at):
            value = float(len(self.samples))  # distinct, so no import is a duplicate
            row_id = add_sample(conn, person, type_code, at, value)
            self.samples.append((row_id, person, type_category(type_code), at))

        @rule(consent_id=consents, data=st.data())
        def narrow(self, consent_id, data):
            plain = self.model[consent_id]
            keep = data.draw(
                st.sets(st.sampled_from(sorted(plain.categories)), min_size=1), label="keep"
            )
            daily = plain.daily or data.draw(st.booleans(), label="daily")
            shorten = data.draw(st.booleans(), label="shorten")
            until = plain.until
            if shorten:
                until = self.now + HOUR if until is None else min(until, self.now + HOUR)
            with engine.begin() as conn:
                if plain.revoked:
                    with pytest.raises(Conflict):
                        store.narrow(
                            conn, plain.person, consent_id, now_ms=self.now, categories=keep
                        )
                    return
                store.narrow(
                    conn,
                    plain.person,
                    consent_id,
                    now_ms=self.now,
                    categories=keep,
                    granularity=Granularity.DAILY if daily else Granularity.RAW,
                    valid_until_ms=until,
                )
            self.model[consent_id] = replace(
                plain, categories=frozenset(keep), daily=daily, until=until
            )
            self.log_count[plain.person] += 1

        @rule(consent_id=consents)
        def revoke(self, consent_id):
            plain = self.model[consent_id]
            with engine.begin() as conn:
                if plain.revoked:
                    with pytest.raises(Conflict):
                        store.revoke(conn, plain.person, consent_id, now_ms=self.now)
                    return
                store.revoke(conn, plain.person, consent_id, now_ms=self.now)
            self.model[consent_id] = replace(plain, revoked=True)
            self.log_count[plain.person] += 1

        @rule(consent_id=consents)
        def someone_else_tries_to_revoke(self, consent_id):
            plain = self.model[consent_id]
            other = next(p for p in self.persons if p != plain.person)
            with engine.begin() as conn, pytest.raises(NotFound):
                store.revoke(conn, other, consent_id, now_ms=self.now)

        @rule(ms=st.sampled_from([1, HOUR - 1, HOUR, 2 * HOUR, DAY, 2 * DAY]))
        def time_passes(self, ms):
            self.now += ms

        @rule(consent_id=consents, end=st.booleans(), before=st.booleans())
        def time_reaches_an_edge(self, consent_id, end, before):
            """Jump to (or just before) a consent's start or end: where off-by-ones hide."""
            plain = self.model[consent_id]
            edge = plain.until if end else plain.start
            if edge is not None and edge - before > self.now:
                self.now = edge - before

        @rule(
            who=st.integers(0, 1),
            actor=st.integers(0, 1),
            wanted=st.sets(st.sampled_from(CATEGORIES)),
            write=st.booleans(),
            bind=st.sampled_from([None, None, None, 0, 1, 2, 3, 4]),
        )
        def request(self, who, actor, wanted, write, bind):
            bound = (
                None
                if bind is None or not self.model
                else sorted(self.model)[bind % len(self.model)]
            )
            action = Action.WRITE if write else Action.READ
            self.ask(self.persons[who], self.actors[actor], wanted, action, bound)

        @rule(
            consent_id=consents,
            wanted=st.sets(st.sampled_from(CATEGORIES)),
            bind=st.booleans(),
        )
        def read_under_a_consent(self, consent_id, wanted, bind):
            """A read by the consent's own actor (most such reads are allowed)."""
            plain = self.model[consent_id]
            bound = consent_id if bind else None
            self.ask(plain.person, plain.actor, wanted, Action.READ, bound)

        @rule(
            who=st.integers(0, 1),
            actor=st.integers(0, 1),
            token_reaches_identity=st.booleans(),
        )
        def read_the_patient(self, who, actor, token_reaches_identity):
            """The Patient is shown under any valid consent that reads; who the person is only
            when the consent chosen holds identity and the token reaches it."""
            person, actor_id = self.persons[who], self.actors[actor]
            reach = Reach(ALL_CATEGORIES if token_reaches_identity else ALL_CATEGORIES - {IDENTITY})
            req = AccessRequest(person, actor_id, Action.READ, resource_type="Patient", reach=reach)
            self.log_count[person] += 1
            valid = [
                c
                for c in self.model.values()
                if c.person == person
                and c.actor == actor_id
                and c.valid(self.now)
                and "read" in c.actions
                and c.categories
            ]
            try:
                data = access.open_for_actor(
                    engine, engine, req, event="test.patient", now_ms=self.now
                )
            except AccessDenied:
                assert not valid
                return
            assert valid
            best = max(valid, key=lambda c: (len(c.categories), not c.daily, c.id))
            with data.reader() as read:
                shown = read.identity()
            assert shown is not None
            assert shown.shown == (IDENTITY in best.categories and token_reaches_identity)
            if not shown.shown:
                assert (shown.name, shown.birth_date, shown.sex) == (None, None, None)

        def ask(self, person, actor_id, wanted, action, bound):
            req = AccessRequest(person, actor_id, action, frozenset(wanted), consent_id=bound)
            try:
                data = access.open_for_actor(
                    engine, engine, req, event="test.request", now_ms=self.now
                )
            except AccessDenied:
                data = None
            self.log_count[person] += 1

            def coverage(c: Plain) -> frozenset[str]:
                return c.categories & frozenset(wanted) if wanted else c.categories

            valid = [
                c
                for c in self.model.values()
                if c.person == person
                and c.actor == actor_id
                and (bound is None or c.id == bound)
                and c.valid(self.now)
                and action.value in c.actions
                and coverage(c)
            ]
            assert (data is not None) == bool(valid)
            if data is None:
                return
            best = max(valid, key=lambda c: (len(coverage(c)), not c.daily, c.id))
            assert data.accessor.consent_id == best.id
            scope = data.scope
            assert scope.categories == coverage(best)
            assert (scope.data_from_ms, scope.data_to_ms) == (best.data_from, best.data_to)
            assert scope.daily_only == best.daily
            if action is Action.READ:
                self.check_returned_rows(data)
            with engine.connect() as conn:
                [last] = audit.entries(conn, person, newest_first=True, limit=1)
            assert (last.event, last.outcome, last.consent_id, last.actor_id) == (
                "test.request",
                "allowed",
                best.id,
                actor_id,
            )

        def check_returned_rows(self, data):
            """What the door returns under its scope is exactly the model's rows, no more."""
            person, scope = data.person_id, data.scope
            with data.reader() as read:
                if scope.daily_only:
                    days = read.daily(SampleFilter(), after=None, limit=10_000)
                    assert all(type_category(d.type_code) in scope.categories for d in days)
                    return
                rows = read.samples(SampleFilter(), after=None, limit=10_000)
            expected = {
                row_id
                for row_id, owner, category, at in self.samples
                if owner == person
                and category in scope.categories
                and (scope.data_from_ms is None or at >= scope.data_from_ms)
                and (scope.data_to_ms is None or at < scope.data_to_ms)
            }
            assert {r.id for r in rows if r.kind == "q"} == expected

        @invariant()
        def every_request_and_change_is_logged(self):
            if not hasattr(self, "persons"):
                return
            log = schema.access_log
            with as_superuser(engine) as conn:
                counts = dict(
                    conn.execute(
                        select(log.c.person_id, func.count())
                        .where(log.c.person_id.in_(self.persons))
                        .group_by(log.c.person_id)
                    ).all()
                )
            assert {p: counts.get(p, 0) for p in self.persons} == self.log_count

        def teardown(self):
            if hasattr(self, "persons"):
                with engine.connect() as conn:
                    for person in self.persons:
                        assert audit.verify(conn, person).ok

    return ConsentMachine


@pytest.mark.slow
def test_consent_decisions_match_the_plain_model(engine):
    run_state_machine_as_test(
        make_machine(engine),
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
