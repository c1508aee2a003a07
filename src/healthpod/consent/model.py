"""What a consent is, what an actor asks for, and the decision between them.

Plain frozen values: the engine (`decide`) works on these without a database, the store turns
rows into them, and the FHIR API hands a `Decision.scope` to the sample store, which applies it
inside its query. Instants are UTC epoch milliseconds, like every `*_ms` column of the store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from healthpod.errors import AccessDenied
from healthpod.vocabulary import Category


class Granularity(StrEnum):
    """How fine the data an actor may see: every raw sample, or one summary per type and day."""

    RAW = "raw"
    DAILY = "daily"


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


class ConsentStatus(StrEnum):
    """The stored status. Expiry is not stored: `Consent.state_at(now)` derives it."""

    ACTIVE = "active"
    REVOKED = "revoked"


class ConsentState(StrEnum):
    """Where a consent stands at one instant, as the person sees it."""

    PENDING = "pending"  # valid_from is still ahead
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


ALL_CATEGORIES: frozenset[str] = frozenset(c.value for c in Category)
IDENTITY: str = Category.IDENTITY.value


@dataclass(frozen=True, slots=True)
class Reach:
    """The most a caller's credentials reach, whatever the consent says: a token's scopes as
    categories, actions and FHIR Observation categories (None: not limited)."""

    categories: frozenset[str]
    actions: frozenset[Action] | None = None
    observation_categories: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """What the store may return for one allowed request.

    It is the consent's scope narrowed by what the caller's credentials reach (a token's
    SMART scopes), so the store applies one object. `categories` are `vocabulary.Category`
    values (`identity` among them: without it a Patient is only its id); `data_from_ms` /
    `data_to_ms` bound the time of the data itself, inclusive from and exclusive to, `None`
    meaning open: a datum is inside when the instant it starts at is (for a daily summary:
    every sample it sums); `granularity` says whether raw samples or daily summaries only may
    be returned; `observation_categories`, when not None, limits Observations to those FHIR
    Observation categories (a token scope such as `patient/Observation.rs?category=vital-signs`).
    """

    categories: frozenset[str]
    data_from_ms: int | None = None
    data_to_ms: int | None = None
    granularity: Granularity = Granularity.RAW
    actions: frozenset[Action] = frozenset({Action.READ})
    observation_categories: frozenset[str] | None = None
    # What the person marked "only me", filled in by the store when an actor's door opens
    # (`store.restrictions.narrow`): type codes and resource types never returned, and
    # whether any single record is restricted (then every read excludes those records).
    hidden_types: frozenset[str] = frozenset()
    hides_records: bool = False
    # Whether the person marked anything wrong (`store.marked_wrong`): then every door's reads
    # leave those rows out, the person's own included (they stay in the pod, not in its data).
    hides_wrong: bool = False

    def covers_category(self, category: str) -> bool:
        return category in self.categories

    @property
    def sees_identity(self) -> bool:
        """Whether the person's name, birth date, sex, identifiers and contacts may be shown."""
        return IDENTITY in self.categories

    def within(self, reach: Reach | None) -> Scope:
        """This scope cut down to what `reach` (the caller's credentials) allows."""
        if reach is None:
            return self
        limit = self.observation_categories
        if reach.observation_categories is not None:
            limit = (
                reach.observation_categories
                if limit is None
                else limit & reach.observation_categories
            )
        return replace(
            self,
            categories=self.categories & reach.categories,
            actions=self.actions & reach.actions if reach.actions is not None else self.actions,
            observation_categories=limit,
        )

    @property
    def daily_only(self) -> bool:
        return self.granularity is Granularity.DAILY


@dataclass(frozen=True, slots=True)
class Purpose:
    """Why an actor wants data, coded (HL7 v3 PurposeOfUse or W3C DPV) with a display text."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Consent:
    """One person's permission for one actor, in its current version."""

    id: int
    person_id: int
    actor_id: int
    purpose: (
        str  # a key of healthpod.consent.purpose.PURPOSES, e.g. "TREAT" or "dpv:ServiceProvision"
    )
    categories: frozenset[str]
    actions: frozenset[Action]
    data_from_ms: int | None
    data_to_ms: int | None
    granularity: Granularity
    valid_from_ms: int
    valid_until_ms: int | None
    revoked_ms: int | None = None
    status: ConsentStatus = ConsentStatus.ACTIVE
    created_ms: int = 0
    updated_ms: int = 0
    version: int = 1
    actor_disabled: bool = False  # the actor was switched off: the consent counts for nothing

    def state_at(self, now_ms: int) -> ConsentState:
        if self.status is ConsentStatus.REVOKED or (
            self.revoked_ms is not None and self.revoked_ms <= now_ms
        ):
            return ConsentState.REVOKED
        if now_ms < self.valid_from_ms:
            return ConsentState.PENDING
        if self.valid_until_ms is not None and now_ms >= self.valid_until_ms:
            return ConsentState.EXPIRED
        return ConsentState.ACTIVE

    def scope(self, categories: frozenset[str] | None = None) -> Scope:
        """The scope this consent allows, limited to `categories` when given."""
        return Scope(
            categories=self.categories if categories is None else self.categories & categories,
            data_from_ms=self.data_from_ms,
            data_to_ms=self.data_to_ms,
            granularity=self.granularity,
            actions=self.actions,
        )

    def summary(self) -> str:
        """A short description for reasons and listings.

        For example "heart, sleep; identity withheld; read; daily summaries only; until
        2027-01-01".
        """
        return _summary(
            self.categories,
            self.actions,
            self.granularity,
            self.data_from_ms,
            self.data_to_ms,
            self.valid_until_ms,
        )


@functools.lru_cache(maxsize=1024)
def _summary(
    categories: frozenset[str],
    actions: frozenset[Action],
    granularity: Granularity,
    data_from_ms: int | None,
    data_to_ms: int | None,
    valid_until_ms: int | None,
) -> str:
    # Kept: a study's thousands of consents say the same, and each decision's reason says it.
    parts = [
        ", ".join(sorted(categories)) or "no categories",
        # Said either way: who the person is matters more than any one measurement.
        "identity shown" if IDENTITY in categories else "identity withheld",
        "/".join(sorted(a.value for a in actions)) or "no actions",
        "daily summaries only" if granularity is Granularity.DAILY else "raw samples",
    ]
    if data_from_ms is not None or data_to_ms is not None:
        parts.append(f"data {format_day(data_from_ms, '…')} to {format_day(data_to_ms, '…')}")
    parts.append("no end date" if valid_until_ms is None else f"until {format_day(valid_until_ms)}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """What one request by an actor wants.

    `categories` empty means "whatever the consent covers" (a search over all Observations,
    or the Patient, which any active consent shows, as its id alone without `identity`);
    the decision's scope then carries the consent's categories for the store to apply.
    `reach` is what the caller's credentials allow at most; the scope never exceeds it.
    `consent_id` binds the request to the consent its access token was issued under, so a
    token keeps working only while that very consent is valid.
    """

    person_id: int
    actor_id: int
    action: Action
    categories: frozenset[str] = field(default_factory=frozenset)
    resource_type: str | None = None
    consent_id: int | None = None
    reach: Reach | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request, with the reason the person reads in the access log."""

    allowed: bool
    reason: str
    consent_id: int | None = None
    scope: Scope | None = None
    entry_seq: int | None = None  # the access-log entry that recorded it, once logged

    def raise_if_denied(self) -> Scope:
        """The scope of an allowed request.

        Raises:
            AccessDenied: the request was denied; the message is the decision's reason.
        """
        if not self.allowed or self.scope is None:
            raise AccessDenied(
                self.reason,
                hint="Ask the person to grant a consent that covers this request.",
            )
        return self.scope


def format_day(ms: int | None, default: str = "") -> str:
    if ms is None:
        return default
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
