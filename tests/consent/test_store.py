"""Consents in the database, on SQLite and PostgreSQL: grant, narrow, revoke, and who must NOT."""

from __future__ import annotations

import pytest

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
from healthpod.errors import Conflict, InvalidRequest, NotFound

DAY = 86_400_000
NOW = 1_800_000_000_000
HEART = Scope(frozenset({"heart", "sleep"}), data_from_ms=NOW - 30 * DAY)


def grant(engine, person, actor, scope=HEART, until=NOW + 10 * DAY):
    with engine.begin() as conn:
        return store.grant(conn, person, actor, scope, valid_until_ms=until, now_ms=NOW)


def ask(engine, person, actor, *categories, now=NOW, **kw):
    request = AccessRequest(person, actor, Action.READ, frozenset(categories), **kw)
    return access.authorize(engine, request, event="test.read", now_ms=now)


def test_grant_is_versioned_logged_and_decides(engine, people):
    alice, _bob, coach, _app = people
    consent = grant(engine, alice, coach)
    assert consent.version == 1 and consent.purpose == "CAREMGT"
    assert ask(engine, alice, coach, "heart").allowed
    with engine.connect() as conn:
        [change] = store.changes(conn, alice, consent.id)
        events = [e.event for e in audit.entries(conn, alice)]
    assert change.change == "granted" and change.consent.categories == {"heart", "sleep"}
    assert events == ["consent.granted", "test.read"]


def test_revocation_works_on_the_very_next_request(engine, people):
    alice, _bob, coach, _app = people
    consent = grant(engine, alice, coach)
    assert ask(engine, alice, coach, "heart").allowed
    with engine.begin() as conn:
        store.revoke(conn, alice, consent.id, now_ms=NOW + 1)
    decision = ask(engine, alice, coach, "heart", now=NOW + 2)
    assert not decision.allowed and "was revoked" in decision.reason
    with engine.begin() as conn, pytest.raises(Conflict):
        store.revoke(conn, alice, consent.id, now_ms=NOW + 3)


def test_denied_requests_are_logged_too(engine, people):
    alice, _bob, coach, _app = people
    assert not ask(engine, alice, coach, "heart").allowed
    with engine.connect() as conn:
        [entry] = audit.entries(conn, alice)
    assert (entry.event, entry.outcome, entry.actor_id) == ("test.read", "denied", coach)
    assert entry.details["categories"] == ["heart"]


def test_nobody_sees_another_persons_consent(engine, people):
    alice, bob, coach, _app = people
    consent = grant(engine, alice, coach)
    with engine.begin() as conn:
        with pytest.raises(NotFound):
            store.get_consent(conn, bob, consent.id)
        with pytest.raises(NotFound):
            store.revoke(conn, bob, consent.id, now_ms=NOW)
        assert store.list_consents(conn, bob) == []
    assert not ask(engine, bob, coach, "heart").allowed
    assert not ask(engine, alice, coach, "heart", consent_id=consent.id + 1).allowed


def test_a_disabled_actor_gets_nothing(engine, people):
    alice, _bob, coach, _app = people
    grant(engine, alice, coach)
    with engine.begin() as conn:
        actors.disable(conn, coach, now_ms=NOW)
    decision = ask(engine, alice, coach, "heart")
    assert not decision.allowed and "the actor has been disabled" in decision.reason
    with engine.begin() as conn, pytest.raises(Conflict, match="disabled"):
        store.grant(conn, alice, coach, HEART, valid_until_ms=None, now_ms=NOW)


def test_another_actors_consent_does_not_count(engine, people):
    alice, _bob, coach, app = people
    grant(engine, alice, coach)
    assert not ask(engine, alice, app, "heart").allowed


def test_narrowing_only_narrows(engine, people):
    alice, _bob, coach, _app = people
    consent = grant(engine, alice, coach)
    with engine.begin() as conn:
        narrowed = store.narrow(
            conn,
            alice,
            consent.id,
            categories={"heart"},
            granularity=Granularity.DAILY,
            valid_until_ms=NOW + DAY,
            now_ms=NOW + 1,
        )
    assert narrowed.version == 2 and narrowed.categories == {"heart"}
    decision = ask(engine, alice, coach, "sleep", now=NOW + 2)
    assert not decision.allowed
    decision = ask(engine, alice, coach, "heart", now=NOW + 2)
    assert decision.scope is not None and decision.scope.daily_only
    assert not ask(engine, alice, coach, "heart", now=NOW + DAY).allowed
    wider = [
        {"categories": {"heart", "activity"}},
        {"granularity": Granularity.RAW},
        {"valid_until_ms": NOW + 5 * DAY},
        {"data_from_ms": NOW - 60 * DAY},
        {"actions": {Action.READ, Action.WRITE}},
        {"categories": set()},
    ]
    for change in wider:
        with engine.begin() as conn, pytest.raises(InvalidRequest):
            store.narrow(conn, alice, consent.id, now_ms=NOW + 3, **change)
    with engine.connect() as conn:
        assert [c.change for c in store.changes(conn, alice, consent.id)] == [
            "granted",
            "narrowed",
        ]


@pytest.mark.parametrize(
    ("scope", "until", "message"),
    [
        (Scope(frozenset()), None, "at least one data category"),
        (Scope(frozenset({"heart"}), actions=frozenset()), None, "reading or writing"),
        (Scope(frozenset({"feelings"})), None, "Unknown data category"),
        (Scope(frozenset({"heart"}), data_from_ms=NOW, data_to_ms=NOW), None, "window is empty"),
        (HEART, NOW - 1, "in the future"),
    ],
)
def test_bad_grants_are_refused_and_nothing_is_stored(engine, people, scope, until, message):
    alice, _bob, coach, _app = people
    with pytest.raises(InvalidRequest, match=message), engine.begin() as conn:
        store.grant(conn, alice, coach, scope, valid_until_ms=until, now_ms=NOW)
    with engine.connect() as conn:
        assert store.list_consents(conn, alice) == []
        assert audit.entries(conn, alice) == []


def test_actor_registration_hashes_the_secret_and_checks_redirect_uris(engine):
    with engine.begin() as conn:
        reg = actors.register(
            conn,
            name="Clinic",
            kind="clinic",
            purpose="TREAT",
            redirect_uris=["https://clinic.example/cb", "http://localhost:8765/cb"],
            public=False,
            now_ms=NOW,
        )
        assert reg.client_secret and reg.actor.client_secret_hash
        assert reg.client_secret not in reg.actor.client_secret_hash
        assert actors.authenticate_client(conn, reg.actor.client_id, reg.client_secret).id
        for secret in (None, "wrong", reg.client_secret + "x"):
            with pytest.raises(Exception, match="client"):
                actors.authenticate_client(conn, reg.actor.client_id, secret)
        for uri, problem in [
            ("/relative", "absolute"),
            ("https://x.example/cb#frag", "fragment"),
            ("http://evil.example/cb", "plain http"),
        ]:
            with pytest.raises(InvalidRequest, match=problem):
                actors.register(
                    conn,
                    name="X",
                    kind="app",
                    purpose="TREAT",
                    redirect_uris=[uri],
                    public=True,
                    now_ms=NOW,
                )
        with pytest.raises(InvalidRequest, match="Unknown purpose"):
            actors.register(
                conn,
                name="X",
                kind="app",
                purpose="marketing",
                redirect_uris=["https://a.b/c"],
                public=True,
                now_ms=NOW,
            )


@pytest.mark.parametrize(
    ("name", "uris", "problem"),
    [
        ("x" * 201, ["https://a.example/cb"], "1 to 200 characters"),
        ("X", ["https://a.example:99999/cb"], "not a valid URI"),
        ("X", [f"https://a.example/{'p' * 2000}"], "longer than 2000"),
        ("X", [f"https://a.example/{i}" for i in range(21)], "at most 20"),
    ],
)
def test_oversized_or_broken_registrations_are_refused(engine, name, uris, problem):
    with engine.begin() as conn, pytest.raises(InvalidRequest, match=problem):
        actors.register(
            conn,
            name=name,
            kind="app",
            purpose="TREAT",
            redirect_uris=uris,
            public=True,
            now_ms=NOW,
        )
