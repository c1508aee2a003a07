"""Helpers for consent tests: persons and actors in a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Connection

from healthpod.consent import actors
from healthpod.store import persons

_names = itertools.count()


def add_person(conn: Connection, name: str | None = None) -> int:
    """A new person; on PostgreSQL `conn`'s transaction then works for them (`rls`)."""
    return persons.add(conn, name or f"person-{next(_names)}", now_ms=0)


def add_actor(conn: Connection, name: str = "Coach Anna", *, public: bool = False) -> int:
    registration = actors.register(
        conn,
        name=name,
        kind="coach",
        purpose="CAREMGT",
        redirect_uris=["https://coach.example/callback"],
        public=public,
        now_ms=0,
    )
    return registration.actor.id


@pytest.fixture
def people(engine):
    """Two persons and two actors: (alice, bob, coach, app)."""
    with engine.begin() as conn:
        return (
            add_person(conn, "alice"),
            add_person(conn, "bob"),
            add_actor(conn, "Coach Anna"),
            add_actor(conn, "Step App", public=True),
        )


@pytest.fixture
def new_person(engine):
    """Make another person (a fresh chain) and return its id."""

    def make() -> int:
        with engine.begin() as conn:
            return add_person(conn)

    return make
