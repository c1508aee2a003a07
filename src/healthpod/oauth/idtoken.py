"""OpenID Connect id_tokens (for `openid fhirUser`) and the keys that sign them.

The signing key lives in the database (`oauth_keys`), made on first use, so every worker of
a region signs with the same key and clients verify against `/oauth/jwks`. Only id_tokens are
JWTs; access and refresh tokens are opaque random strings we look up, so a forged or
`alg: none` JWT presented as a bearer token is simply an unknown token.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import Connection, insert, select

from healthpod.store import schema

ID_TOKEN_SECONDS = 300
ALGORITHM = "RS256"
# Every claim an id_token may carry (published in the OpenID Provider Metadata).
CLAIMS = ("iss", "sub", "aud", "iat", "exp", "nonce", "fhirUser")
keys = schema.oauth_keys


def signing_key(conn: Connection, *, now_ms: int) -> RSAKey:
    """The newest signing key, made and stored if there is none yet."""
    row = conn.execute(select(keys).order_by(keys.c.id.desc()).limit(1)).first()
    if row is not None:
        return RSAKey.import_key(row.private_pem, {"kid": row.kid, "use": "sig", "alg": ALGORITHM})
    kid = secrets.token_hex(8)
    key = RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": ALGORITHM})
    pem = key.as_pem(private=True)
    conn.execute(
        insert(keys).values(
            kid=kid, private_pem=pem.decode() if isinstance(pem, bytes) else pem, created_ms=now_ms
        )
    )
    return key


def public_keys(conn: Connection) -> dict[str, Any]:
    """The JWKS document: every key's public half."""
    found: list[Any] = [
        RSAKey.import_key(row.private_pem, {"kid": row.kid, "use": "sig", "alg": ALGORITHM})
        for row in conn.execute(select(keys).order_by(keys.c.id))
    ]
    return dict(KeySet(found).as_dict(private=False))


def id_token(
    conn: Connection,
    *,
    issuer: str,
    audience: str,
    subject: str,
    fhir_user: str,
    nonce: str | None,
    now_ms: int,
) -> str:
    key = signing_key(conn, now_ms=now_ms)
    now = now_ms // 1000
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "fhirUser": fhir_user,
    }
    if nonce:
        claims["nonce"] = nonce
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key)
