"""The OAuth 2 authorization server: Authlib's grants over our actors, consents and tokens.

One `PodAuthorizationServer` is built per request around the request's database connection,
so Authlib's callbacks (`query_client`, `save_token`, …) all run in that one transaction: a
token is stored, its audit entry written and a reused code's family revoked together.

What we allow, on purpose narrower than OAuth 2 in general (RFC 9700, SMART App Launch 2):
authorization code only, PKCE with S256 required of every client (public or not), exact
redirect-URI match, `state` required, refresh tokens only with `offline_access`, rotated on
every use, and a reused refresh token or code revokes every token of its family.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy import Connection

from healthpod.consent import audit
from healthpod.consent.actors import Actor, by_client_id, verify_secret
from healthpod.consent.engine import decide
from healthpod.consent.model import AccessRequest, Action
from healthpod.consent.store import consents_for, get_consent
from healthpod.errors import InvalidRequest
from healthpod.oauth import tokens
from healthpod.oauth.scopes import granted, parse_scopes

logger = logging.getLogger(__name__)


class Client(ClientMixin):  # type: ignore[misc]
    """An enabled actor, as Authlib sees a client."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def get_client_id(self) -> str:
        return self.actor.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.actor.redirect_uris[0] if len(self.actor.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return parse_scopes(scope).text()

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.actor.redirect_uris  # exact string match, nothing else

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(self.actor, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.actor.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True, slots=True)
class Grant:
    """Who allowed what: the person and the consent the authorize step created."""

    person_id: int
    consent_id: int
    scope: str
    nonce: str | None = None
    fhir_user: str | None = None  # RelatedPerson/delegate-<id>: a delegate launched the app


class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, record: tokens.CodeRecord) -> None:
        self.record = record

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return self.record.created_ms // 1000


class Token(TokenMixin):  # type: ignore[misc]
    def __init__(self, record: tokens.TokenRecord, *, now_ms: int, consent_ok: bool) -> None:
        self.record = record
        self.now_ms = now_ms
        self.consent_ok = consent_ok

    def check_client(self, client: Client) -> bool:
        return self.record.actor_id == client.actor.id

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return max(0, (self.record.expires_ms - self.now_ms) // 1000)

    def is_expired(self) -> bool:
        return self.now_ms >= self.record.expires_ms

    def is_revoked(self) -> bool:
        record = self.record
        return record.revoked_ms is not None or record.used_ms is not None or not self.consent_ok


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: dict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class PodRequest(OAuth2Request):  # type: ignore[misc]
    """A request as Authlib wants it: `payload` holds query (authorize) or form (token) pairs."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],  # case-insensitive (Starlette's Headers)
        pairs: list[tuple[str, str]],
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(pairs)
        self._form = self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return self._form

    @property
    def form(self) -> dict[str, str]:
        return self._form


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256, required of every client; `plain` and a missing challenge are refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is refused).")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: Code) -> str:
        return authorization_code.record.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: Code) -> str:
        return "S256"


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012
    server: PodAuthorizationServer

    def save_authorization_code(self, code: str, request: PodRequest) -> None:
        pass  # saved (hashed) by generate_authorization_code, which alone sees it in clear

    def generate_authorization_code(self) -> str:
        grant: Grant = self.request.user
        client: Client = self.request.client
        return self.server.issue_code(grant, client, self.request)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        server = self.server
        record = tokens.find_code(server.conn, code)
        if record is None or record.actor_id != client.actor.id:
            return None
        if record.used_ms is not None or not tokens.use_code(
            server.conn, record, now_ms=server.now_ms
        ):
            # A replayed code: the tokens issued from its first use are revoked too.
            revoked = tokens.revoke_family(server.conn, record.code_hash, now_ms=server.now_ms)
            server.log(
                record.person_id,
                record.actor_id,
                "oauth.code_reused",
                "denied",
                f"an authorization code was used twice; {revoked} tokens revoked",
                consent_id=record.consent_id,
            )
            return None
        if server.now_ms >= record.expires_ms:
            return None
        return Code(record)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        pass  # marked used when it was looked up, so a replay is noticed

    def authenticate_user(self, authorization_code: Code) -> Grant | None:
        record = authorization_code.record
        if not self.server.consent_valid(record.person_id, record.actor_id, record.consent_id):
            return None
        return Grant(
            record.person_id, record.consent_id, record.scope, record.nonce, record.fhir_user
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: PodAuthorizationServer

    def validate_token_request(self) -> None:
        server = self.server
        presented = self.request.form.get("refresh_token")
        try:
            client: Client = self._validate_request_client()
        except OAuth2Error:
            self._client_refused(presented)
            raise
        self.request.client = client
        if not presented:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        record = tokens.find_token(server.conn, presented, "refresh")
        if record is None:
            raise InvalidGrantError("Unknown refresh token.")
        if record.actor_id != client.actor.id:
            self._refused(record, "the refresh token belongs to another app", client.actor.id)
            raise InvalidGrantError("Unknown refresh token.")
        if record.used_ms is not None or record.revoked_ms is not None:
            self._reused(record)
        if server.now_ms >= record.expires_ms:
            self._refused(record, "the refresh token has expired")
            raise InvalidGrantError("The refresh token has expired; authorize again.")
        wanted = self.request.payload.scope
        if wanted and parse_scopes(wanted).restrict_to(parse_scopes(record.scope)) != parse_scopes(
            wanted
        ):
            raise InvalidScopeError("A refresh may keep or narrow the scope, never widen it.")
        refusal = server.consent_refusal(record.person_id, record.actor_id, record.consent_id)
        if refusal is not None:
            tokens.revoke_family(server.conn, record.family, now_ms=server.now_ms)
            self._refused(record, refusal)
            raise InvalidGrantError("The consent behind this token is no longer valid.")
        if not tokens.mark_used(server.conn, record, now_ms=server.now_ms):
            self._reused(record)
        self.request.refresh_token = record

    def _refused(self, record: tokens.TokenRecord, why: str, actor_id: int | None = None) -> None:
        """Log a refused refresh for the token's person, so they see the attempt."""
        self.server.log(
            record.person_id,
            record.actor_id if actor_id is None else actor_id,
            "oauth.refresh_refused",
            "denied",
            f"token refresh refused: {why}",
            consent_id=record.consent_id,
        )

    def _client_refused(self, presented: str | None) -> None:
        """A refresh whose client is disabled or failed to authenticate, with a known token."""
        record = tokens.find_token(self.server.conn, presented, "refresh") if presented else None
        if record is None:
            return  # nobody's token: no one's log to write it in
        from healthpod.consent.actors import get_actor

        disabled = get_actor(self.server.conn, record.actor_id).disabled
        self._refused(
            record, "the app is disabled" if disabled else "the app could not be authenticated"
        )

    def _reused(self, record: tokens.TokenRecord) -> None:
        server = self.server
        revoked = tokens.revoke_family(server.conn, record.family, now_ms=server.now_ms)
        server.log(
            record.person_id,
            record.actor_id,
            "oauth.refresh_reused",
            "denied",
            f"a rotated refresh token was presented again; {revoked} tokens revoked",
            consent_id=record.consent_id,
        )
        raise InvalidGrantError("This refresh token was already used; its tokens are revoked.")

    def authenticate_user(self, refresh_token: tokens.TokenRecord) -> Grant:
        return Grant(
            refresh_token.person_id,
            refresh_token.consent_id,
            refresh_token.scope,
            fhir_user=refresh_token.fhir_user,
        )

    def issue_token(self, user: Grant, refresh_token: tokens.TokenRecord) -> dict[str, Any]:
        # What the consent allows now: the person may have narrowed it since the last token.
        asked = parse_scopes(self.request.payload.scope or refresh_token.scope).text()
        scope = self.server.scope_now(dataclasses.replace(refresh_token, scope=asked))
        return self.generate_token(user=user, scope=scope, include_refresh_token=True)  # type: ignore[no-any-return]

    def revoke_old_credential(self, refresh_token: tokens.TokenRecord) -> None:
        pass  # already rotated out in validate_token_request


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012
    server: PodAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.token_for(token_string)

    def revoke_token(self, token: Token, request: PodRequest) -> None:
        server = self.server
        record = token.record
        tokens.revoke_token(server.conn, record, now_ms=server.now_ms)
        server.log(
            record.person_id,
            record.actor_id,
            "oauth.token_revoked",
            "ok",
            f"the client revoked its {record.kind} token",
            consent_id=record.consent_id,
        )


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012
    server: PodAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return self.server.token_for(token_string)

    def check_permission(self, token: Token, client: Client, request: PodRequest) -> bool:
        return token.check_client(client)  # a client may introspect only its own tokens

    def introspect_token(self, token: Token) -> dict[str, Any]:
        record = token.record
        server = self.server
        return {
            "active": True,
            "client_id": server.client_id_of(record.actor_id),
            "token_type": "Bearer" if record.kind == "access" else "refresh_token",
            "scope": server.scope_now(record),
            "sub": str(record.person_id),
            "patient": str(record.person_id),
            "exp": record.expires_ms // 1000,
            "iat": record.created_ms // 1000,
            "iss": server.issuer,
        }


class PodAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server bound to one connection, one clock and our token store."""

    def __init__(self, conn: Connection, *, now_ms: int, issuer: str, fhir_base: str) -> None:
        super().__init__(scopes_supported=None)
        self.conn = conn
        self.now_ms = now_ms
        self.issuer = issuer
        self.fhir_base = fhir_base
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_token_generator("default", self._generate)
        self._clients: dict[str, Client | None] = {}

    # Authlib's hooks -------------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        if client_id not in self._clients:
            actor = by_client_id(self.conn, client_id) if client_id else None
            self._clients[client_id] = None if actor is None or actor.disabled else Client(actor)
        return self._clients[client_id]

    def create_oauth2_request(self, request: Any) -> PodRequest:
        assert isinstance(request, PodRequest)
        return request

    def create_json_request(self, request: Any) -> Any:
        # Authlib calls this only for JSON endpoints (e.g. dynamic client registration), which
        # this server does not route: actors are registered by the operator.
        raise InvalidRequest("OAuth requests here are form posts, not JSON.")

    def handle_response(
        self, status: int, body: Any, headers: Any
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def save_token(self, token: dict[str, Any], request: PodRequest) -> None:
        pass  # stored by _generate, which alone sees the clear token

    # Ours ------------------------------------------------------------------------------------

    def log(
        self,
        person_id: int,
        actor_id: int,
        event: str,
        outcome: str,
        reason: str,
        *,
        consent_id: int | None = None,
        details: dict[str, Any] | None = None,
        done_by: audit.DoneBy = audit.DoneBy.ACTOR,
    ) -> None:
        audit.record(
            self.conn,
            person_id,
            actor_id,
            event,
            outcome,
            details,
            now_ms=self.now_ms,
            reason=reason,
            consent_id=consent_id,
            done_by=done_by,
        )

    def consent_valid(self, person_id: int, actor_id: int, consent_id: int) -> bool:
        """Whether the consent a token is bound to still allows anything right now."""
        return self.consent_refusal(person_id, actor_id, consent_id) is None

    def consent_refusal(self, person_id: int, actor_id: int, consent_id: int) -> str | None:
        """None if the token's consent still allows anything right now, else why not."""
        request = AccessRequest(person_id, actor_id, Action.READ, consent_id=consent_id)
        consents = consents_for(self.conn, person_id, actor_id)
        read = decide(consents, request, now_ms=self.now_ms)
        if read.allowed:
            return None
        write = AccessRequest(person_id, actor_id, Action.WRITE, consent_id=consent_id)
        return None if decide(consents, write, now_ms=self.now_ms).allowed else read.reason

    def scope_now(self, record: tokens.TokenRecord) -> str:
        """A token's scope as its consent allows it now (the person may have narrowed it)."""
        consent = get_consent(self.conn, record.person_id, record.consent_id)
        actions = frozenset(a.value for a in consent.actions)
        return granted(parse_scopes(record.scope), consent.categories, actions).text()

    def token_for(self, presented: str) -> Token | None:
        record = tokens.find_token(self.conn, presented)
        if record is None:
            return None
        ok = self.consent_valid(record.person_id, record.actor_id, record.consent_id)
        return Token(record, now_ms=self.now_ms, consent_ok=ok)

    def client_id_of(self, actor_id: int) -> str | None:
        from healthpod.consent.actors import get_actor

        return get_actor(self.conn, actor_id).client_id

    def issue_code(self, grant: Grant, client: Client, request: PodRequest) -> str:
        data = request.payload.data
        code = tokens.save_code(
            self.conn,
            person_id=grant.person_id,
            actor_id=client.actor.id,
            consent_id=grant.consent_id,
            redirect_uri=data["redirect_uri"],
            scope=grant.scope,
            code_challenge=data["code_challenge"],
            nonce=data.get("nonce"),
            now_ms=self.now_ms,
            fhir_user=grant.fhir_user,
        )
        self.log(
            grant.person_id,
            client.actor.id,
            "oauth.code_issued",
            "ok",
            f"the person allowed {client.actor.name} to ask for tokens",
            consent_id=grant.consent_id,
            details={"scope": grant.scope},
            done_by=audit.DoneBy.PERSON,
        )
        return code

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: Grant | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None
        scopes = parse_scopes(scope)
        request = self._current_request
        if grant_type == "authorization_code":
            family = request.authorization_code.record.code_hash
            refresh_expires = self.now_ms + tokens.REFRESH_TOKEN_SECONDS * 1000
        else:
            family = request.refresh_token.family
            refresh_expires = request.refresh_token.expires_ms  # rotation never extends it
        common: dict[str, Any] = {
            "family": family,
            "person_id": user.person_id,
            "actor_id": client.actor.id,
            "consent_id": user.consent_id,
            "scope": scopes.text(),
            "now_ms": self.now_ms,
            "fhir_user": user.fhir_user,
        }
        access = tokens.issue(
            self.conn,
            kind="access",
            expires_ms=self.now_ms + tokens.ACCESS_TOKEN_SECONDS * 1000,
            **common,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": tokens.ACCESS_TOKEN_SECONDS,
            "scope": scopes.text(),
            "patient": str(user.person_id),
        }
        if scopes.offline and include_refresh_token:
            body["refresh_token"] = tokens.issue(
                self.conn,
                kind="refresh",
                expires_ms=refresh_expires,
                **common,
            )
        if "openid" in scopes.plain:
            from healthpod.oauth.idtoken import id_token

            body["id_token"] = id_token(
                self.conn,
                issuer=self.issuer,
                audience=client.actor.client_id,
                fhir_user=f"{self.fhir_base}/{user.fhir_user or f'Patient/{user.person_id}'}",
                subject=str(user.person_id),
                nonce=user.nonce,
                now_ms=self.now_ms,
            )
        event = (
            "oauth.token_issued" if grant_type == "authorization_code" else "oauth.token_refreshed"
        )
        self.log(
            user.person_id,
            client.actor.id,
            event,
            "ok",
            f"{'issued' if event.endswith('issued') else 'refreshed'} tokens for "
            f"{client.actor.name}" + (" with a refresh token" if "refresh_token" in body else ""),
            consent_id=user.consent_id,
            details={"scope": scopes.text()},
        )
        return body

    _current_request: Any = None

    def create_token_response(self, request: Any = None) -> Any:
        self._current_request = request
        return super().create_token_response(request)
