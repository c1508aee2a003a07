"""The consent decision: one pure function, deny by default, every verdict with its reason.

Nothing here touches the database or the web, so it is cheap on the hot path (it runs on every
request by an actor) and can be checked exhaustively against a plain model in tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from healthpod.consent.model import (
    ALL_CATEGORIES,
    AccessRequest,
    Consent,
    ConsentState,
    Decision,
    Granularity,
    format_day,
)


def decide(consents: Sequence[Consent], request: AccessRequest, *, now_ms: int) -> Decision:
    """Allow `request` only if a consent valid at `now_ms` covers it; say why either way.

    A consent counts when it belongs to the request's person and actor (and is the request's
    `consent_id`, when the token names one), its actor is not disabled, it is active at
    `now_ms` (not pending, expired or revoked), allows the action, and covers at least one
    wanted category (any category when none is named). Among several, the one covering most
    of the wanted categories wins, then raw over daily, then the newest. The scope is that
    consent's, narrowed to what was wanted and to what the caller's credentials reach.
    """
    unknown = request.categories - ALL_CATEGORIES
    if unknown:
        return Decision(False, f"unknown data category {', '.join(sorted(unknown))}")
    candidates = [
        c for c in consents if c.person_id == request.person_id and c.actor_id == request.actor_id
    ]
    if request.consent_id is not None:
        candidates = [c for c in candidates if c.id == request.consent_id]
        if not candidates:
            return Decision(
                False,
                f"consent {request.consent_id} is not a consent of this person for actor "
                f"{request.actor_id}",
            )
    if not candidates:
        return Decision(False, f"actor {request.actor_id} has no consent from this person")

    best: Consent | None = None
    best_key: tuple[int, bool, int] = (0, False, 0)
    best_covered: frozenset[str] = frozenset()
    why_not: list[str] = []
    for consent in candidates:
        if consent.actor_disabled:
            why_not.append(f"consent {consent.id} counts no more: the actor has been disabled")
            continue
        state = consent.state_at(now_ms)
        if state is not ConsentState.ACTIVE:
            why_not.append(_inactive(consent, state))
            continue
        if request.action not in consent.actions:
            why_not.append(f"consent {consent.id} does not allow {request.action.value}")
            continue
        covered = (
            consent.categories & request.categories if request.categories else consent.categories
        )
        if not covered:
            why_not.append(
                f"consent {consent.id} does not cover {', '.join(sorted(request.categories))}"
            )
            continue
        key = (len(covered), consent.granularity is Granularity.RAW, consent.id)
        if best is None or key > best_key:
            best, best_key, best_covered = consent, key, covered

    if best is None:
        return Decision(False, "; ".join(why_not))
    reason = f"consent {best.id} ({best.purpose}): {best.summary()}"
    missing = request.categories - best_covered
    if missing:
        reason += f"; not covered, so not returned: {', '.join(sorted(missing))}"
    return Decision(True, reason, best.id, best.scope(best_covered).within(request.reach))


def _inactive(consent: Consent, state: ConsentState) -> str:
    if state is ConsentState.REVOKED:
        revoked_on = format_day(consent.revoked_ms, "an earlier date")
        return f"consent {consent.id} was revoked on {revoked_on}"
    if state is ConsentState.EXPIRED:
        return f"consent {consent.id} expired on {format_day(consent.valid_until_ms)}"
    return f"consent {consent.id} starts on {format_day(consent.valid_from_ms)}"
