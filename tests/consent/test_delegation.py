"""Delegates and guardians: who may act for whom, decided at each request, every read logged.

Runs on a real database (SQLite and PostgreSQL) through the door the web app uses
(`access.open_for_delegate`). The state machine grants, revokes, lets time pass over a
child's birthday at the age limit and reads as delegates, and checks against a plain model
that no read happens outside a live delegation and that each one is in the person's log.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, insert, select, update
from tests.conftest import as_superuser
from tests.consent.test_state_machine import add_sample

from healthpod.consent import access, audit, delegates
from healthpod.consent.delegation import (
    DelegateAction,
    Kind,
    age_limit_day,
    decide,
)
from healthpod.errors import AccessDenied, Conflict, InvalidRequest, NotFound
from healthpod.store import persons as persons_
from healthpod.store import schema
from healthpod.store.delegations import Delegation, Party

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_800_000_000_000  # 2027-01-15 08:00 UTC
BORN = date(2014, 1, 17)  # turns 13 on 2027-01-17, two days (less eight hours) after NOW
AGED_MS = int(datetime(2027, 1, 17, tzinfo=UTC).timestamp() * 1000)
_names = itertools.count()


def add_account(conn, name: str, born: date | None = BORN) -> int:
    """A person with an account (a dummy hash: nobody logs in here)."""
    person = persons_.add(conn, name, now_ms=0)
    conn.execute(
        update(schema.persons).where(schema.persons.c.id == person).values(birth_date=born)
    )
    conn.execute(
        insert(schema.accounts).values(
            username=name, password_hash="x", person_id=person, created_ms=0
        )
    )
    return int(person)


def log_entries(engine, person: int) -> list[audit.LogEntry]:
    with engine.connect() as conn:
        return audit.entries(conn, person)


# --- the pure decision --------------------------------------------------------------------


def _delegation(kind: str = "delegate", role: str = "view", **kw) -> Delegation:
    values = {
        "id": 1,
        "person_id": 1,
        "delegate_id": 2,
        "kind": kind,
        "role": role,
        "created_ms": 0,
        "valid_until_ms": None,
        "revoked_ms": None,
    }
    values.update(kw)
    return Delegation(**values)


CHILD = Party(1, "lisa", BORN, None)


def test_a_view_delegate_reads_but_neither_imports_nor_shares():
    d = _delegation()
    allowed, _ = decide([d], person=CHILD, delegate_id=2, action=DelegateAction.READ, now_ms=NOW)
    assert allowed.allowed
    for action in (DelegateAction.IMPORT, DelegateAction.SHARE, DelegateAction.DELEGATE):
        refused, used = decide([d], person=CHILD, delegate_id=2, action=action, now_ms=NOW)
        assert not refused.allowed and used is None
        assert f"does not allow {action.value}" in refused.reason


def test_no_role_delegates_further():
    d = _delegation(role="manage")
    for action in (DelegateAction.READ, DelegateAction.IMPORT, DelegateAction.SHARE):
        assert decide([d], person=CHILD, delegate_id=2, action=action, now_ms=NOW)[0].allowed
    refused, _ = decide(
        [d], person=CHILD, delegate_id=2, action=DelegateAction.DELEGATE, now_ms=NOW
    )
    assert not refused.allowed


def test_a_guardian_is_refused_from_the_childs_birthday_at_the_age_limit():
    d = _delegation(kind=Kind.GUARDIAN.value, role="manage")
    read = DelegateAction.READ
    before = decide([d], person=CHILD, delegate_id=2, action=read, now_ms=AGED_MS - 1)[0]
    at = decide([d], person=CHILD, delegate_id=2, action=read, now_ms=AGED_MS)[0]
    assert before.allowed
    assert not at.allowed and "turned 13" in at.reason
    # The region's limit is a setting: at 16 the same guardian still acts.
    later = decide([d], person=CHILD, delegate_id=2, action=read, now_ms=AGED_MS, age_limit=16)
    assert later[0].allowed


def test_the_age_limit_is_at_local_midnight_in_the_childs_zone():
    d = _delegation(kind=Kind.GUARDIAN.value)
    child = Party(1, "lisa", BORN, "Europe/Stockholm")  # UTC+1 in January
    read = DelegateAction.READ
    local_midnight = AGED_MS - HOUR
    assert decide([d], person=child, delegate_id=2, action=read, now_ms=local_midnight - 1)[
        0
    ].allowed
    assert not decide([d], person=child, delegate_id=2, action=read, now_ms=local_midnight)[
        0
    ].allowed


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)), st.integers(1, 25))
def test_the_age_limit_day_is_the_birthday_or_28_february(born, age):
    day = age_limit_day(born, age)
    assert day.year == born.year + age
    if (born.month, born.day) == (2, 29) and day.month == 2 and day.day != 29:
        assert day == date(born.year + age, 2, 28)
    else:
        assert (day.month, day.day) == (born.month, born.day)


def test_a_guardianship_without_a_birth_date_is_refused():
    d = _delegation(kind=Kind.GUARDIAN.value)
    no_birth = Party(1, "lisa", None, None)
    refused, _ = decide([d], person=no_birth, delegate_id=2, action=DelegateAction.READ, now_ms=NOW)
    assert not refused.allowed and "birth date" in refused.reason


def test_nobody_else_reads_through_a_delegation():
    """Not a third person, not the person through their own delegate's row."""
    d = _delegation()
    for who in (3, 1):
        refused, _ = decide(
            [d], person=CHILD, delegate_id=who, action=DelegateAction.READ, now_ms=NOW
        )
        assert not refused.allowed


# --- the door, on both engines -----------------------------------------------------------


@pytest.fixture
def family(engine):
    """(anna, erik, lisa): erik may act for anna; lisa is a child."""
    with engine.begin() as conn:
        run = next(_names)
        anna = add_account(conn, f"anna{run}", born=date(1980, 5, 1))
        erik = add_account(conn, f"erik{run}", born=date(1978, 3, 3))
        lisa = add_account(conn, f"lisa{run}")
        add_sample(conn, anna, "heart_rate", NOW - DAY, 61.0)
    return anna, erik, lisa


def _username(engine, person: int) -> str:
    with engine.connect() as conn:
        found = delegates.party(conn, person)
    assert found is not None and found.username is not None
    return found.username


def test_a_delegates_read_is_logged_in_the_persons_log_naming_both(engine, family):
    anna, erik, _ = family
    given_ = delegates.add(
        engine, anna, _username(engine, erik), role="view", until_ms=None, now_ms=NOW
    )
    data = access.open_for_delegate(
        engine,
        engine,
        delegate_id=erik,
        person_id=anna,
        action=DelegateAction.READ,
        event="test.read",
        now_ms=NOW + 1,
    )
    assert data.person_id == anna and data.accessor.delegate_id == erik
    assert not data.accessor.is_person and not data.owner
    with data.reader() as read:
        assert read.visible_types() == {"heart_rate": 1}
    last = log_entries(engine, anna)[-1]
    assert (last.event, last.outcome, last.done_by, last.via) == (
        "test.read",
        "allowed",
        "delegate",
        f"delegation/{given_.delegation.id}",
    )
    assert last.details["delegate_id"] == erik
    assert last.details["delegate"] == _username(engine, erik)
    # Nothing of erik's own log is touched by reading anna's data.
    assert not [e for e in log_entries(engine, erik) if e.event == "test.read"]


def test_a_revoked_delegate_is_refused_on_the_next_request_and_it_is_logged(engine, family):
    anna, erik, _ = family
    made = delegates.add(
        engine, anna, _username(engine, erik), role="manage", until_ms=None, now_ms=NOW
    )
    delegates.revoke(engine, anna, made.delegation.id, now_ms=NOW + 1)
    with pytest.raises(AccessDenied, match="revoked"):
        access.open_for_delegate(
            engine,
            engine,
            delegate_id=erik,
            person_id=anna,
            action=DelegateAction.READ,
            event="test.read",
            now_ms=NOW + 2,
        )
    last = log_entries(engine, anna)[-1]
    assert (last.event, last.outcome, last.done_by) == ("test.read", "denied", "delegate")
    assert audit.verify(engine.connect(), anna).ok


def test_a_guardian_after_the_age_limit_is_refused_and_logged(engine, family):
    _, erik, lisa = family
    delegates.add(
        engine,
        lisa,
        _username(engine, erik),
        role="manage",
        until_ms=None,
        now_ms=NOW,
        guardian=True,
    )
    ok = access.open_for_delegate(
        engine,
        engine,
        delegate_id=erik,
        person_id=lisa,
        action=DelegateAction.IMPORT,
        event="test.import",
        now_ms=AGED_MS - 1,
    )
    assert ok.person_id == lisa
    with pytest.raises(AccessDenied, match="turned 13"):
        access.open_for_delegate(
            engine,
            engine,
            delegate_id=erik,
            person_id=lisa,
            action=DelegateAction.READ,
            event="test.read",
            now_ms=AGED_MS,
        )
    last = log_entries(engine, lisa)[-1]
    assert (last.outcome, last.done_by) == ("denied", "delegate")
    # A guardianship for someone past the limit cannot be set up either.
    with pytest.raises(InvalidRequest, match="turned 13"):
        delegates.add(
            engine,
            lisa,
            _username(engine, erik),
            role="view",
            until_ms=None,
            now_ms=AGED_MS,
            guardian=True,
        )


def test_only_me_stays_hidden_from_a_delegate(engine, family):
    from healthpod.store.person_data import for_owner

    anna, erik, _ = family
    delegates.add(engine, anna, _username(engine, erik), role="view", until_ms=None, now_ms=NOW)
    with for_owner(engine, engine, anna).writer() as write:
        write.restrict(["heart_rate"], [], now_ms=NOW)
    data = access.open_for_delegate(
        engine,
        engine,
        delegate_id=erik,
        person_id=anna,
        action=DelegateAction.READ,
        event="test.read",
        now_ms=NOW + 1,
    )
    with data.reader() as read:
        assert read.visible_types() == {}
        with pytest.raises(AccessDenied):
            read.restricted()


@pytest.mark.parametrize("bad", ["self", "unknown", "empty", "role", "past"])
def test_bad_delegations_change_nothing(engine, family, bad):
    anna, erik, _ = family
    before = log_entries(engine, anna)
    username = {"self": _username(engine, anna), "unknown": "nobody-here", "empty": "  "}.get(
        bad, _username(engine, erik)
    )
    role = "admin" if bad == "role" else "view"
    until = NOW - DAY if bad == "past" else None
    expected = NotFound if bad == "unknown" else InvalidRequest
    with pytest.raises(expected) as caught:
        delegates.add(engine, anna, username, role=role, until_ms=until, now_ms=NOW)
    assert caught.value.hint or bad in ("empty", "self", "role")
    with engine.connect() as conn:
        assert delegates.listing(conn, anna, now_ms=NOW) == []
    assert log_entries(engine, anna) == before


def test_a_second_live_delegation_to_the_same_account_is_a_conflict(engine, family):
    anna, erik, _ = family
    delegates.add(engine, anna, _username(engine, erik), role="view", until_ms=None, now_ms=NOW)
    with pytest.raises(Conflict):
        delegates.add(
            engine, anna, _username(engine, erik), role="manage", until_ms=None, now_ms=NOW
        )


def test_only_the_giver_revokes(engine, family):
    anna, erik, lisa = family
    made = delegates.add(
        engine, anna, _username(engine, erik), role="view", until_ms=None, now_ms=NOW
    )
    for someone in (erik, lisa):
        with pytest.raises(NotFound):
            delegates.revoke(engine, someone, made.delegation.id, now_ms=NOW)
    delegates.revoke(engine, anna, made.delegation.id, now_ms=NOW)
    with pytest.raises(Conflict):
        delegates.revoke(engine, anna, made.delegation.id, now_ms=NOW)


# --- the state machine ----------------------------------------------------------------------


@dataclass
class PlainDelegation:
    id: int
    person: int
    delegate: int
    manage: bool
    guardian: bool
    until: int | None
    revoked: bool = False

    def live(self, now: int) -> bool:
        if self.revoked or (self.until is not None and now >= self.until):
            return False
        return not (self.guardian and now >= AGED_MS)

    def allows(self, action: DelegateAction, now: int) -> bool:
        if not self.live(now) or action is DelegateAction.DELEGATE:
            return False
        return self.manage or action is DelegateAction.READ


def make_machine(engine):
    runs = itertools.count()

    class DelegationMachine(RuleBasedStateMachine):
        delegations = Bundle("delegations")

        @initialize()
        def setup(self):
            run = next(runs)
            with engine.begin() as conn:
                self.people = [add_account(conn, f"m{run}-{next(_names)}") for _ in range(3)]
                for person in self.people:
                    add_sample(conn, person, "steps", NOW - DAY, 100.0 + person)
            self.names = {p: _username(engine, p) for p in self.people}
            self.now = NOW
            self.model: dict[int, PlainDelegation] = {}
            self.log_count = dict.fromkeys(self.people, 0)
            self.reads = 0

        @rule(
            target=delegations,
            who=st.integers(0, 2),
            to=st.integers(0, 2),
            manage=st.booleans(),
            guardian=st.booleans(),
            lasts=st.sampled_from([None, HOUR, DAY, 4 * DAY]),
        )
        def grant(self, who, to, manage, guardian, lasts):
            person, delegate = self.people[who], self.people[to]
            until = None if lasts is None else self.now + lasts
            live_one = any(
                d.person == person and d.delegate == delegate and d.live(self.now)
                for d in self.model.values()
            )
            try:
                made = delegates.add(
                    engine,
                    person,
                    self.names[delegate],
                    role="manage" if manage else "view",
                    until_ms=until,
                    now_ms=self.now,
                    guardian=guardian,
                )
            except InvalidRequest:
                assert person == delegate or (guardian and self.now >= AGED_MS)
                return None
            except Conflict:
                assert live_one
                return None
            assert person != delegate and not live_one
            assert not (guardian and self.now >= AGED_MS)
            self.log_count[person] += 1
            plain = PlainDelegation(made.delegation.id, person, delegate, manage, guardian, until)
            self.model[plain.id] = plain
            return plain.id

        @rule(delegation=delegations)
        def revoke(self, delegation):
            if delegation is None:
                return
            plain = self.model[delegation]
            try:
                delegates.revoke(engine, plain.person, delegation, now_ms=self.now)
            except Conflict:
                assert plain.revoked
                return
            assert not plain.revoked
            plain.revoked = True
            self.log_count[plain.person] += 1

        @rule(by=st.sampled_from([HOUR, DAY, 2 * DAY]))
        def advance_time(self, by):
            self.now += by  # crosses the child's birthday at the age limit within a few steps

        @rule(
            who=st.integers(0, 2),
            by=st.integers(0, 2),
            action=st.sampled_from(list(DelegateAction)),
        )
        def act(self, who, by, action):
            person, delegate = self.people[who], self.people[by]
            expected = any(
                d.person == person and d.delegate == delegate and d.allows(action, self.now)
                for d in self.model.values()
            )
            try:
                data = access.open_for_delegate(
                    engine,
                    engine,
                    delegate_id=delegate,
                    person_id=person,
                    action=action,
                    event="test.act",
                    now_ms=self.now,
                )
            except AccessDenied:
                allowed = False
            else:
                allowed = True
                with data.reader() as read:
                    assert read.visible_types() == {"steps": 1}
                    identity = read.identity()
                assert identity is not None and identity.person_id == person
                self.reads += 1
            assert allowed == expected, (person, delegate, action, self.now)
            self.log_count[person] += 1
            [last] = log_entries(engine, person)[-1:]
            assert (last.event, last.done_by) == ("test.act", "delegate")
            assert last.outcome == ("allowed" if allowed else "denied")
            assert last.details["delegate_id"] == delegate

        @invariant()
        def every_act_and_change_is_in_the_persons_log(self):
            if not hasattr(self, "people"):
                return
            log = schema.access_log
            with as_superuser(engine) as conn:
                counts = dict(
                    conn.execute(
                        select(log.c.person_id, func.count())
                        .where(log.c.person_id.in_(self.people))
                        .group_by(log.c.person_id)
                    ).all()
                )
            assert {p: counts.get(p, 0) for p in self.people} == self.log_count

        def teardown(self):
            if hasattr(self, "people"):
                with engine.connect() as conn:
                    for person in self.people:
                        assert audit.verify(conn, person).ok

    return DelegationMachine


@pytest.mark.slow
def test_delegation_reads_match_the_plain_model(engine):
    run_state_machine_as_test(
        make_machine(engine),
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_erasing_either_person_takes_their_delegations_with_them(engine, family):
    from healthpod.store.erase import erase_person

    anna, erik, lisa = family
    delegates.add(engine, anna, _username(engine, erik), role="view", until_ms=None, now_ms=NOW)
    delegates.add(engine, lisa, _username(engine, erik), role="view", until_ms=None, now_ms=NOW)
    with engine.begin() as conn:
        removed = erase_person(conn, erik)  # the delegate: what they could do for others goes
    assert removed["delegations"] == 2
    with engine.connect() as conn:
        assert delegates.listing(conn, anna, now_ms=NOW) == []
        assert delegates.listing(conn, lisa, now_ms=NOW) == []
