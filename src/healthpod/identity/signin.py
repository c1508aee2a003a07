"""An e-ID sign-in from start to session: the state kept server-side and used once, the
person found by the keyed hash of their personal identity number, or made after they accept
the region's terms.

    start = start(pod, provider, redirect_uri, next_path)           # -> browser to start.url
    outcome = complete(pod, state, code, redirect_uri)               # SignedIn or NewPerson
    person_id = join(pod, new_person)                                # after "I accept"
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from healthpod import accounts
from healthpod.config import IdentityProvider, Settings
from healthpod.consent import audit
from healthpod.errors import HealthpodError, InvalidRequest
from healthpod.identity import oidc
from healthpod.identity.numbers import PERSONNUMMER, IdentifierKeys, masked
from healthpod.keys import identity_key
from healthpod.pod import Pod, now_ms
from healthpod.store import identities, persons

logger = logging.getLogger(__name__)

LOGIN_MAX_AGE_MS = 10 * 60 * 1000  # a sign-in not finished within 10 minutes starts again


@dataclass(frozen=True, slots=True)
class SignedIn:
    person_id: int
    next_path: str


@dataclass(frozen=True, slots=True)
class NewPerson:
    """Someone the pod does not know yet: who they are, until they accept the terms."""

    provider: str
    value_hash: str
    value_encrypted: str
    name: str
    next_path: str


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def provider_named(settings: Settings, name: str) -> IdentityProvider:
    """Raises: InvalidRequest: no provider of that name is configured."""
    for provider in settings.identity_providers:
        if provider.name == name:
            return provider
    raise InvalidRequest(
        f"There is no sign-in service called {name!r}.",
        hint="Choose one of the services on the sign-in page.",
    )


def keys(settings: Settings) -> IdentifierKeys:
    return IdentifierKeys.from_key(identity_key(settings))


def start(pod: Pod, provider: IdentityProvider, redirect_uri: str, next_path: str) -> oidc.Start:
    """Begin a sign-in: the provider's URL, with the state, nonce and verifier kept server-side.

    Raises:
        StorageError: the provider cannot be reached.
    """
    begun = oidc.begin(provider, redirect_uri)
    with pod.engine.begin() as conn:
        identities.start_login(
            conn,
            state_hash(begun.state),
            identities.LoginStart(
                provider=provider.name,
                nonce=begun.nonce,
                code_verifier=begun.code_verifier,
                next_path=next_path,
                created_ms=now_ms(),
            ),
        )
    return begun


def complete(
    pod: Pod,
    state: str,
    code: str,
    redirect_uri: str,
    *,
    browser_state: str | None,
    provider_error: str | None = None,
) -> SignedIn | NewPerson:
    """Check the provider's answer and find (or describe) the person.

    The state is marked used before anything else, in a transaction of its own, so a replayed
    answer is refused even if this one fails later. It must also be the state this browser
    started with (`browser_state`, from its cookie), so no one can finish their own sign-in in
    another person's browser.

    Raises:
        SignInRefused: an unknown, used or stale state, or an ID token that fails a check.
        StorageError: the provider cannot be reached.
    """
    settings = pod.settings
    with pod.engine.begin() as conn:
        claimed = identities.claim_login(conn, state_hash(state), now_ms=now_ms())
    if claimed == "used":
        raise _refused("replayed authorization response (state used before)")
    if isinstance(claimed, str):
        raise _refused("unknown state")
    if browser_state != state:
        raise _refused("state not started in this browser", provider=claimed.provider)
    if provider_error is not None:
        logger.warning(
            "e-ID sign-in ended at the provider provider=%s error=%s",
            claimed.provider,
            provider_error[:100],
        )
        raise oidc.SignInRefused(
            "The sign-in was cancelled or failed at the sign-in service.",
            reason=f"provider error: {provider_error[:100]}",
            hint="Start the sign-in again.",
        )
    if now_ms() - claimed.created_ms > LOGIN_MAX_AGE_MS:
        raise _refused("sign-in took longer than 10 minutes", provider=claimed.provider)
    provider = provider_named(settings, claimed.provider)
    try:
        claims = oidc.finish(
            provider,
            redirect_uri,
            code,
            nonce=claimed.nonce,
            code_verifier=claimed.code_verifier,
        )
    except oidc.SignInRefused as exc:
        logger.warning("e-ID sign-in refused provider=%s reason=%s", provider.name, exc.reason)
        raise
    number = claims.get(provider.number_claim)
    if not isinstance(number, str):
        logger.warning("e-ID sign-in refused provider=%s reason=no number claim", provider.name)
        raise oidc.SignInRefused(
            f"{provider.label} did not tell us your personal identity number.",
            reason="no personal identity number claim",
            hint="Sign in with an e-ID that carries a Swedish personal identity number.",
        )
    identifier_keys = keys(settings)
    try:
        value_hash = identifier_keys.hash(PERSONNUMMER, number)
    except HealthpodError as exc:
        logger.warning("e-ID sign-in refused provider=%s reason=malformed number", provider.name)
        raise oidc.SignInRefused(exc.message, reason="malformed personal identity number") from exc
    with pod.engine.begin() as conn:
        found = identities.find(conn, value_hash)
        if found is not None:
            audit.lock_chain(conn, found.person_id)
            identities.signed_in(conn, found, now_ms=now_ms())
            audit.record(
                conn,
                found.person_id,
                None,
                "login",
                "ok",
                {"provider": provider.name},
                now_ms=now_ms(),
                reason=f"logged in with e-ID ({provider.label})",
            )
    if found is not None:
        logger.info("e-ID sign-in provider=%s person_id=%d", provider.name, found.person_id)
        return SignedIn(found.person_id, claimed.next_path)
    name = " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if part
    ) or str(claims.get("name") or "e-ID")
    return NewPerson(
        provider=provider.name,
        value_hash=value_hash,
        value_encrypted=identifier_keys.encrypt(PERSONNUMMER, number),
        name=name[:150],
        next_path=claimed.next_path,
    )


def join(pod: Pod, new: NewPerson) -> int:
    """Make the person who accepted the region's terms, with a login and their identity.

    If the same number joined meanwhile (a second tab), that person is signed in instead.
    """
    settings = pod.settings
    provider = provider_named(settings, new.provider)
    at = now_ms()
    try:
        with pod.engine.begin() as conn:
            person_id = persons.add_new(conn, new.name, now_ms=at)
            accounts.create_eid_account(conn, person_id=person_id, now_ms=at)
            identities.add(
                conn,
                person_id,
                new.value_hash,
                new.value_encrypted,
                provider=provider.name,
                terms_version=settings.terms_version,
                now_ms=at,
            )
            audit.record(
                conn,
                person_id,
                None,
                "login",
                "ok",
                {"provider": provider.name, "terms_version": settings.terms_version},
                now_ms=at,
                reason=(
                    f"joined with e-ID ({provider.label}) and accepted the terms, "
                    f"version {settings.terms_version}"
                ),
            )
    except IntegrityError:
        with pod.engine.connect() as conn:
            found = identities.find(conn, new.value_hash)
        if found is None:
            raise
        return found.person_id
    logger.info("e-ID person joined provider=%s person_id=%d", provider.name, person_id)
    return person_id


@dataclass(frozen=True, slots=True)
class ShownNumber:
    number: str  # YYYYMMDD-NNNN
    provider: str | None  # the label of the e-ID provider that first proved it


def numbers_of(pod: Pod, person_id: int) -> list[ShownNumber]:
    """The person's own personal identity numbers, decrypted to show them back to them only.

    Only the person's own door calls this (their settings page).
    """
    with pod.engine.connect() as conn:
        found = identities.of_person(conn, person_id)
    if not found:
        return []
    identifier_keys = keys(pod.settings)
    labels = {p.name: p.label for p in pod.settings.identity_providers}
    shown: list[ShownNumber] = []
    for identity in found:
        try:
            number = identifier_keys.decrypt(identity.value_encrypted)
        except HealthpodError:
            logger.warning("an identity of person_id=%d cannot be decrypted", person_id)
            continue
        provider = labels.get(identity.provider or "", identity.provider)
        shown.append(ShownNumber(masked(number), provider))
    return shown


def _refused(reason: str, *, provider: str | None = None) -> oidc.SignInRefused:
    logger.warning("e-ID sign-in refused provider=%s reason=%s", provider, reason)
    message = (
        "This sign-in was already used or has expired, so you are not signed in."
        if ("state" in reason and "browser" not in reason) or "10 minutes" in reason
        else "The sign-in could not be completed."
    )
    return oidc.SignInRefused(message, reason=reason, hint="Start the sign-in again.")
