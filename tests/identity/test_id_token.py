"""The ID token checks, with tokens signed here: a wrong audience, issuer, nonce, signature,
algorithm or expiry is refused with the reason that goes to the log."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from healthpod.config import IdentityProvider
from healthpod.identity.oidc import ProviderMetadata, SignInRefused, validate_id_token

ISSUER = "https://broker.example"
PROVIDER = IdentityProvider(
    name="bankid",
    label="BankID",
    issuer=ISSUER,
    client_id="healthpod",  # type: ignore[arg-type]
)
META = ProviderMetadata(ISSUER, f"{ISSUER}/auth", f"{ISSUER}/token", f"{ISSUER}/jwks", None)
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
KEYS = KeySet([KEY])
NONCE = "n-0S6_WzA2Mj"


def _claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": "abc",
        "aud": "healthpod",
        "nonce": NONCE,
        "iat": now,
        "exp": now + 300,
        "https://id.oidc.se/claim/personalIdentityNumber": "191212121212",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key=KEY, alg: str = "RS256", **changes: object) -> str:
    return jwt.encode({"alg": alg, "kid": "k1"}, _claims(**changes), key)


def test_a_good_token_passes():
    claims = validate_id_token(PROVIDER, META, _token(), nonce=NONCE, keys=KEYS)
    assert claims["https://id.oidc.se/claim/personalIdentityNumber"] == "191212121212"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: _token(aud="another-client"), "bad claim: aud"),
        (lambda: _token(aud=["healthpod", "other"], azp="other"), "bad claim: azp"),
        (lambda: _token(iss="https://evil.example"), "bad claim: iss"),
        (lambda: _token(nonce="replayed-nonce"), "bad claim: nonce"),
        (lambda: _token(nonce=None), "bad claim: nonce"),
        (lambda: _token(exp=int(time.time()) - 3600), "expired ID token"),
        (lambda: _token(exp=None), "bad claim: exp"),
        (lambda: _token(key=RSAKey.generate_key(2048)), "bad signature"),
        (lambda: _token(key=OctKey.generate_key(256), alg="HS256"), "unreadable ID token"),
        (lambda: "not.a.token", "unreadable ID token"),
    ],
    ids=[
        "aud",
        "azp",
        "iss",
        "nonce",
        "no-nonce",
        "expired",
        "no-exp",
        "signature",
        "hs256",
        "junk",
    ],
)
def test_a_bad_token_is_refused(token, reason):
    with pytest.raises(SignInRefused) as refused:
        validate_id_token(PROVIDER, META, token(), nonce=NONCE, keys=KEYS)
    assert refused.value.reason.startswith(reason)
    assert refused.value.status == 403
    assert "could not be trusted" in refused.value.message
