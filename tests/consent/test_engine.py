"""decide(): deny by default, and who must NOT get what, with a reason for each verdict."""

from __future__ import annotations

import pytest

from healthpod.consent import AccessRequest, Action, Consent, Granularity, decide
from healthpod.consent.model import ConsentStatus

DAY = 86_400_000
NOW = 1_800_000_000_000


def consent(**overrides) -> Consent:
    values = {
        "id": 7,
        "person_id": 1,
        "actor_id": 10,
        "purpose": "CAREMGT",
        "categories": frozenset({"heart", "sleep"}),
        "actions": frozenset({Action.READ}),
        "data_from_ms": NOW - 30 * DAY,
        "data_to_ms": None,
        "granularity": Granularity.RAW,
        "valid_from_ms": NOW - DAY,
        "valid_until_ms": NOW + DAY,
    }
    values.update(overrides)
    return Consent(**values)


def read(*categories: str, person: int = 1, actor: int = 10, **kw) -> AccessRequest:
    return AccessRequest(person, actor, Action.READ, frozenset(categories), **kw)


def test_allowed_request_carries_the_consents_scope():
    decision = decide([consent()], read("heart"), now_ms=NOW)
    assert decision.allowed and decision.consent_id == 7
    assert decision.scope is not None
    assert decision.scope.categories == {"heart"}
    assert decision.scope.data_from_ms == NOW - 30 * DAY
    assert "consent 7" in decision.reason
    assert decision.raise_if_denied() == decision.scope


def test_a_search_over_everything_gets_the_consents_categories():
    decision = decide([consent()], read(), now_ms=NOW)
    assert decision.scope is not None and decision.scope.categories == {"heart", "sleep"}


@pytest.mark.parametrize(
    ("who", "consents", "request_", "reason"),
    [
        ("nobody without a consent", [], read("heart"), "has no consent"),
        ("another person's data", [consent()], read("heart", person=2), "has no consent"),
        ("another actor", [consent()], read("heart", actor=11), "has no consent"),
        (
            "a category outside the consent",
            [consent()],
            read("activity"),
            "does not cover activity",
        ),
        ("after expiry", [consent(valid_until_ms=NOW)], read("heart"), "expired on"),
        ("before it starts", [consent(valid_from_ms=NOW + 1)], read("heart"), "starts on"),
        (
            "after revocation",
            [consent(status=ConsentStatus.REVOKED, revoked_ms=NOW - 1)],
            read("heart"),
            "was revoked",
        ),
        (
            "a write under a read consent",
            [consent()],
            AccessRequest(1, 10, Action.WRITE, frozenset({"heart"})),
            "does not allow write",
        ),
        ("a token bound to another consent", [consent()], read("heart", consent_id=8), "consent 8"),
        ("an unknown category", [consent()], read("telepathy"), "unknown data category"),
        ("a disabled actor", [consent(actor_disabled=True)], read("heart"), "disabled"),
    ],
)
def test_who_must_not_get_what(who, consents, request_, reason):
    decision = decide(consents, request_, now_ms=NOW)
    assert not decision.allowed, who
    assert decision.scope is None and decision.consent_id is None
    assert reason in decision.reason
    with pytest.raises(Exception, match=reason):
        decision.raise_if_denied()


def test_daily_only_consent_gives_a_daily_scope():
    decision = decide([consent(granularity=Granularity.DAILY)], read("heart"), now_ms=NOW)
    assert decision.scope is not None and decision.scope.daily_only


def test_the_consent_covering_most_wins_and_raw_beats_daily_on_a_tie():
    small = consent(id=1, categories=frozenset({"heart"}))
    daily = consent(id=2, granularity=Granularity.DAILY)
    raw = consent(id=3)
    assert decide([small, daily], read("heart", "sleep"), now_ms=NOW).consent_id == 2
    assert decide([raw, daily], read("heart", "sleep"), now_ms=NOW).consent_id == 3
    assert decide([small, raw], read("heart"), now_ms=NOW).consent_id == 3


def test_an_inactive_consent_does_not_hide_a_valid_one():
    old = consent(id=1, valid_until_ms=NOW - 1)
    current = consent(id=2)
    decision = decide([old, current], read("heart"), now_ms=NOW)
    assert decision.allowed and decision.consent_id == 2


def test_partly_covered_request_says_what_is_left_out():
    decision = decide([consent()], read("heart", "activity"), now_ms=NOW)
    assert decision.allowed
    assert decision.scope is not None and decision.scope.categories == {"heart"}
    assert "not covered, so not returned: activity" in decision.reason


def test_expiry_is_exclusive_and_start_inclusive():
    c = consent(valid_from_ms=NOW, valid_until_ms=NOW + 10)
    assert decide([c], read("heart"), now_ms=NOW).allowed
    assert decide([c], read("heart"), now_ms=NOW + 9).allowed
    assert not decide([c], read("heart"), now_ms=NOW + 10).allowed
