"""Signing in with an e-ID through OpenID Connect: Authlib as the client, joserfc for the ID token.

    start = begin(provider, redirect_uri)                 # URL to send the browser to, + secrets
    ...the person signs in at the provider, which sends the browser back with code and state...
    claims = finish(provider, redirect_uri, code, start)  # checked ID token claims (+ userinfo)

What is checked, following OpenID Connect Core 3.1.3.7: the discovery document's issuer is the
configured one; the code is exchanged with the PKCE verifier (S256) over TLS in production; the
ID token is signed (RS256, PS256 or ES256, never `none` or HMAC) by a key of the provider's
JWKS (fetched again once when the token names a key we have not seen); `iss` is the issuer,
`aud` holds our client id (and `azp` is ours when there are several audiences), the `nonce` is
the one this sign-in sent, `exp` is in the future and `iat` is present (60 s leeway for clocks).
The state is checked before this (single use, bound to the browser) by the web layer.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749 import OAuth2Error
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from healthpod.config import IdentityProvider
from healthpod.errors import AccessDenied, StorageError

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY_S = 60
CACHE_S = 3600
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


@dataclass(frozen=True, slots=True)
class Start:
    """A sign-in to send the browser on: the URL and the secrets its callback checks."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class SignInRefused(AccessDenied):
    """The provider's answer failed a check; `reason` is the short word that goes to the log."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


_cache: dict[str, tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: str) -> Any:
    with _cache_lock:
        found = _cache.get(key)
    if found is None or time.monotonic() - found[0] > CACHE_S:
        return None
    return found[1]


def _remember(key: str, value: Any) -> None:
    with _cache_lock:
        _cache[key] = (time.monotonic(), value)


def _get_json(url: str, label: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=TIMEOUT_S, headers={"accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("e-ID provider unreachable provider=%s url=%s error=%s", label, url, exc)
        raise StorageError(
            f"The sign-in service {label} cannot be reached just now.",
            hint="Try again in a few minutes.",
        ) from exc
    if not isinstance(body, dict):
        raise StorageError(f"The sign-in service {label} answered with something unexpected.")
    return body


def metadata(provider: IdentityProvider) -> ProviderMetadata:
    """The provider's discovery document (cached for an hour).

    Raises:
        StorageError: the provider cannot be reached or its document is unusable.
    """
    key = f"meta:{provider.issuer_text}"
    found = _cached(key)
    if isinstance(found, ProviderMetadata):
        return found
    document = _get_json(f"{provider.issuer_text}/.well-known/openid-configuration", provider.label)
    if document.get("issuer") != provider.issuer_text:
        logger.warning(
            "e-ID discovery issuer mismatch provider=%s issuer=%s",
            provider.name,
            document.get("issuer"),
        )
        raise StorageError(
            f"The sign-in service {provider.label} names another issuer than the one configured.",
            hint="The operator must check HEALTHPOD_IDENTITY_PROVIDERS.",
        )
    try:
        found = ProviderMetadata(
            issuer=str(document["issuer"]),
            authorization_endpoint=str(document["authorization_endpoint"]),
            token_endpoint=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
            userinfo_endpoint=document.get("userinfo_endpoint"),
        )
    except KeyError as exc:
        raise StorageError(
            f"The sign-in service {provider.label}'s discovery document lacks {exc.args[0]}."
        ) from exc
    _remember(key, found)
    return found


def _keys(provider: IdentityProvider, meta: ProviderMetadata, *, fresh: bool) -> KeySet:
    key = f"jwks:{meta.jwks_uri}"
    found = None if fresh else _cached(key)
    if isinstance(found, KeySet):
        return found
    try:
        keys = KeySet.import_key_set(_get_json(meta.jwks_uri, provider.label))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise StorageError(f"The sign-in service {provider.label}'s keys are unusable.") from exc
    _remember(key, keys)
    return keys


def _client(provider: IdentityProvider, redirect_uri: str) -> OAuth2Client:
    secret = provider.client_secret.get_secret_value() if provider.client_secret else None
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        redirect_uri=redirect_uri,
        scope=provider.scope,
        code_challenge_method="S256",
        timeout=TIMEOUT_S,
    )


def begin(provider: IdentityProvider, redirect_uri: str) -> Start:
    """The authorization URL (code flow, PKCE S256, state and nonce) for a new sign-in.

    Raises:
        StorageError: the provider cannot be reached.
    """
    meta = metadata(provider)
    state, nonce, verifier = (
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
        generate_token(64),
    )
    extra: dict[str, str] = {"nonce": nonce}
    if provider.acr_values:
        extra["acr_values"] = provider.acr_values
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            meta.authorization_endpoint, state=state, code_verifier=verifier, **extra
        )
    return Start(url=url, state=state, nonce=nonce, code_verifier=verifier)


def finish(
    provider: IdentityProvider, redirect_uri: str, code: str, *, nonce: str, code_verifier: str
) -> dict[str, Any]:
    """Exchange the code and return the ID token's checked claims (with userinfo's added).

    Raises:
        SignInRefused: the token exchange failed or the ID token failed a check.
        StorageError: the provider cannot be reached.
    """
    meta = metadata(provider)
    try:
        with _client(provider, redirect_uri) as client:
            token = client.fetch_token(
                meta.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
            )
    except OAuth2Error as exc:
        raise SignInRefused(
            f"{provider.label} did not accept the sign-in ({exc.error}).",
            reason=f"token exchange refused: {exc.error}",
            hint="Start the sign-in again.",
        ) from exc
    except httpx.HTTPError as exc:
        raise StorageError(
            f"The sign-in service {provider.label} cannot be reached just now.",
            hint="Try again in a few minutes.",
        ) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInRefused(
            f"{provider.label} sent no ID token.", reason="no id_token in the token response"
        )
    claims = validate_id_token(provider, meta, id_token, nonce=nonce)
    if provider.number_claim not in claims and meta.userinfo_endpoint:
        claims = {**_userinfo(provider, meta, str(token["access_token"]), claims["sub"]), **claims}
    return claims


def validate_id_token(
    provider: IdentityProvider,
    meta: ProviderMetadata,
    id_token: str,
    *,
    nonce: str,
    now: int | None = None,
    keys: KeySet | None = None,
) -> dict[str, Any]:
    """The claims of a signed, current ID token meant for us, for this sign-in.

    `keys` are the provider's keys when the caller has them; by default its JWKS is fetched.

    Raises:
        SignInRefused: a bad signature, issuer, audience, nonce or expiry (the reason says which).
    """
    refused = f"The answer from {provider.label} could not be trusted, so you are not signed in."
    hint = "Start the sign-in again. If it happens again, tell the pod's operator."
    try:
        if keys is None:
            decoded = _decode(provider, meta, id_token)
        else:
            decoded = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
    except BadSignatureError as exc:
        raise SignInRefused(refused, reason="bad signature", hint=hint) from exc
    except (JoseError, ValueError) as exc:
        raise SignInRefused(refused, reason=f"unreadable ID token: {exc}", hint=hint) from exc
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_S,
        iss={"essential": True, "value": meta.issuer},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise SignInRefused(refused, reason="expired ID token", hint=hint) from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise SignInRefused(refused, reason=f"bad claim: {exc.claim}", hint=hint) from exc
    except JoseError as exc:
        raise SignInRefused(refused, reason=f"bad ID token: {exc.error}", hint=hint) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise SignInRefused(refused, reason="bad claim: azp", hint=hint)
    return claims


def _decode(provider: IdentityProvider, meta: ProviderMetadata, id_token: str) -> jwt.Token:
    keys = _keys(provider, meta, fresh=False)
    try:
        return jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
    except (ValueError, JoseError) as exc:
        if isinstance(exc, BadSignatureError) or "key" not in str(exc).lower():
            raise
    # A key we have not seen: the provider may have rotated its keys; fetch them once more.
    return jwt.decode(id_token, _keys(provider, meta, fresh=True), algorithms=list(ALGORITHMS))


def _userinfo(
    provider: IdentityProvider, meta: ProviderMetadata, access_token: str, subject: str
) -> dict[str, Any]:
    assert meta.userinfo_endpoint is not None
    try:
        response = httpx.get(
            meta.userinfo_endpoint,
            headers={"authorization": f"Bearer {access_token}", "accept": "application/json"},
            timeout=TIMEOUT_S,
        )
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise StorageError(f"The sign-in service {provider.label} cannot be reached.") from exc
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise SignInRefused(
            f"The answer from {provider.label} could not be trusted, so you are not signed in.",
            reason="userinfo for another subject",
        )
    return info
