"""Discovery documents: SMART configuration, OpenID Provider Metadata and the signing keys.

    GET /fhir/.well-known/smart-configuration    SMART App Launch 2 (at the FHIR base)
    GET /.well-known/smart-configuration         the same document, where older clients look
    GET /.well-known/openid-configuration        OpenID Connect Discovery 1.0, for the issuer
    GET /oauth/jwks                              keys that sign id_tokens

The issuer of our id_tokens is the server's base URL (`iss` in every id_token), so its OpenID
Provider Metadata lives at `{issuer}/.well-known/openid-configuration`, as Discovery 1.0 §4
builds the address. Every document is public and holds nothing about anyone: it is JSON
whatever the `Accept` header says (SMART 2 conformance) and readable from any origin, so a
browser app can discover the server before it has a token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from healthpod.oauth import backend
from healthpod.oauth.idtoken import ALGORITHM, CLAIMS, public_keys, signing_key
from healthpod.oauth.scopes import supported_scopes
from healthpod.pod import Pod

router = APIRouter(tags=["smart"])
# Public metadata: any origin may read it; no credentials are involved.
PUBLIC = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"}
AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


def _base(request: Request) -> str:
    pod: Pod = request.app.state.pod
    return pod.settings.public_base_url


def smart_configuration(base: str) -> dict[str, Any]:
    """The SMART configuration for a server whose public base URL is `base` (FHIR at /fhir)."""
    return {
        "issuer": base,
        "jwks_uri": f"{base}/oauth/jwks",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "grant_types_supported": GRANT_TYPES,
        "response_types_supported": ["code"],
        "scopes_supported": supported_scopes(),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_signing_alg_values_supported": list(backend.ALGORITHMS),
        "capabilities": [
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "client-confidential-asymmetric",
            "context-standalone-patient",
            "permission-patient",
            "permission-offline",
            "permission-v1",
            "permission-v2",
            "sso-openid-connect",
        ],
    }


def openid_configuration(base: str) -> dict[str, Any]:
    """OpenID Provider Metadata (Discovery 1.0 §3) for the issuer `base`."""
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/oauth/jwks",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "claims_supported": list(CLAIMS),
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


@router.get("/fhir/.well-known/smart-configuration")
@router.get("/.well-known/smart-configuration")
def well_known(request: Request) -> JSONResponse:
    """SMART discovery document (SMART App Launch 2), at the FHIR base and at the root."""
    return JSONResponse(smart_configuration(_base(request)), headers=PUBLIC)


@router.get("/.well-known/openid-configuration")
def openid_well_known(request: Request) -> JSONResponse:
    """OpenID Provider Metadata for the issuer of our id_tokens."""
    return JSONResponse(openid_configuration(_base(request)), headers=PUBLIC)


@router.get("/oauth/jwks")
def jwks(request: Request) -> JSONResponse:
    """Public keys that sign id_tokens."""
    pod: Pod = request.app.state.pod
    with pod.engine.connect() as conn:
        keys = public_keys(conn)
    if not keys["keys"]:
        # Publish the key before the first id_token is signed with it, so a client that
        # fetched (and cached) the set early can still verify that token.
        with pod.engine.begin() as conn:
            signing_key(conn, now_ms=int(pod.now().timestamp() * 1000))
            keys = public_keys(conn)
    # Short cache: a new key must reach clients soon after it is made.
    return JSONResponse(keys, headers={**PUBLIC, "Cache-Control": "public, max-age=300"})
