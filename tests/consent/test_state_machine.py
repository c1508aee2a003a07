"""Grants, narrowing, revocations, time passing and requests, checked against a plain model.

Runs on a real database (SQLite and PostgreSQL) through the same path the FHIR API uses
(`access.authorize`): nothing outside a valid consent is ever allowed, the chosen consent and
scope are exactly what the model says, and every request and change has its log entry.
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
from healthpod.errors import Conflict, NotFound
from healthpod.store import schema

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_800_000_000_000
CATEGORIES = ["activity", "heart", "sleep", "lab-results"]


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
    table = schema.persons
    return conn.execute(
        insert(table).values(name=name, created_ms=0).returning(table.c.id)
    ).scalar_one()


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
            bind=st.one_of(st.none(), st.integers(0, 30)),
        )
        def request(self, who, actor, wanted, write, bind):
            person, actor_id = self.persons[who], self.actors[actor]
            action = Action.WRITE if write else Action.READ
            bound = (
                None
                if bind is None or not self.model
                else sorted(self.model)[bind % len(self.model)]
            )
            req = AccessRequest(person, actor_id, action, frozenset(wanted), consent_id=bound)
            decision = access.authorize(engine, req, event="test.request", now_ms=self.now)
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
            assert decision.allowed == bool(valid), decision.reason
            if not valid:
                assert decision.scope is None
                return
            best = max(valid, key=lambda c: (len(coverage(c)), not c.daily, c.id))
            assert decision.consent_id == best.id
            scope = decision.scope
            assert scope is not None
            assert scope.categories == coverage(best)
            assert (scope.data_from_ms, scope.data_to_ms) == (best.data_from, best.data_to)
            assert scope.daily_only == best.daily
            with engine.connect() as conn:
                [last] = audit.entries(conn, person, newest_first=True, limit=1)
            assert (last.event, last.outcome, last.consent_id, last.actor_id) == (
                "test.request",
                "allowed",
                best.id,
                actor_id,
            )

        @invariant()
        def every_request_and_change_is_logged(self):
            if not hasattr(self, "persons"):
                return
            log = schema.access_log
            with engine.connect() as conn:
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


def test_consent_decisions_match_the_plain_model(engine):
    run_state_machine_as_test(
        make_machine(engine),
        settings=settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
