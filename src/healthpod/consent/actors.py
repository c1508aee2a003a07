"""Actors: apps, coaches, clinics and researchers registered as OAuth2 clients.

A confidential client gets a secret once, at registration; only its sha256 is stored (the
secret is 256 random bits, so a slow password hash would add nothing but latency to every
token request). A public client has no secret and relies on PKCE alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from healthpod.consent.model import Purpose
from healthpod.consent.purpose import describe, parse_purpose, purpose_key
from healthpod.errors import AccessDenied, InvalidRequest, NotFound
from healthpod.store import schema

actors = schema.actors


class ActorKind(StrEnum):
    APP = "app"
    COACH = "coach"
    CLINIC = "clinic"
    RESEARCH = "research"


@dataclass(frozen=True, slots=True)
class Actor:
    id: int
    client_id: str
    name: str
    kind: ActorKind
    purpose: str  # key of consent.purpose.PURPOSES
    redirect_uris: tuple[str, ...]
    public: bool
    created_ms: int
    disabled_ms: int | None
    client_secret_hash: str | None = None
    jwks_uri: str | None = None  # a backend client's keys, by URL …
    jwks: dict[str, Any] | None = None  # … or by value

    @property
    def backend(self) -> bool:
        """Whether this is a backend client (SMART Backend Services, signed JWT assertions)."""
        return self.jwks_uri is not None or self.jwks is not None

    @property
    def disabled(self) -> bool:
        return self.disabled_ms is not None

    @property
    def coded_purpose(self) -> Purpose:
        return describe(self.purpose)

    def as_json(self) -> dict[str, Any]:
        purpose = self.coded_purpose
        return {
            "id": self.id,
            "client_id": self.client_id,
            "name": self.name,
            "kind": self.kind.value,
            "purpose": {"system": purpose.system, "code": purpose.code, "display": purpose.display},
            "redirect_uris": list(self.redirect_uris),
            "public": self.public,
            "created_ms": self.created_ms,
            "disabled_ms": self.disabled_ms,
            "backend": self.backend,
            "jwks_uri": self.jwks_uri,
        }


@dataclass(frozen=True, slots=True)
class Registration:
    """A new actor and its client secret (None for a public client), shown only this once."""

    actor: Actor
    client_secret: str | None


def register(
    conn: Connection,
    *,
    name: str,
    kind: str,
    purpose: str,
    redirect_uris: Sequence[str],
    public: bool,
    now_ms: int,
) -> Registration:
    """Register an actor as an OAuth2 client.

    Raises:
        InvalidRequest: an empty name, an unknown kind or purpose, or a bad redirect URI.
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("An actor needs a name of 1 to 200 characters.", hint="Pass --name.")
    try:
        actor_kind = ActorKind(kind)
    except ValueError:
        raise InvalidRequest(
            f"Unknown actor kind {kind!r}.",
            hint="Use one of: " + ", ".join(k.value for k in ActorKind) + ".",
        ) from None
    coded = parse_purpose(purpose)
    if not redirect_uris:
        raise InvalidRequest(
            "An actor needs at least one redirect URI.", hint="Pass --redirect-uri."
        )
    if len(redirect_uris) > 20:
        raise InvalidRequest("An actor may have at most 20 redirect URIs.")
    uris = tuple(check_redirect_uri(uri) for uri in redirect_uris)
    secret = None if public else secrets.token_urlsafe(32)
    client_id = new_client_id()
    actor_id = conn.execute(
        insert(actors)
        .values(
            client_id=client_id,
            client_secret_hash=None if secret is None else _hash_secret(secret),
            name=name,
            kind=actor_kind.value,
            purpose=purpose_key(coded),
            redirect_uris=list(uris),
            created_ms=now_ms,
        )
        .returning(actors.c.id)
    ).scalar_one()
    return Registration(get_actor(conn, int(actor_id)), secret)


def register_backend(
    conn: Connection,
    *,
    name: str,
    kind: str,
    purpose: str,
    jwks_uri: str | None,
    jwks: dict[str, Any] | None,
    now_ms: int,
) -> Actor:
    """Register a backend client (a care provider's system): it authenticates with JWTs signed
    by a key of its JWKS (RFC 7523), given by URL or by value; it has no secret and no
    redirect URI.

    Raises:
        InvalidRequest: an empty name, an unknown kind or purpose, neither or both of the JWKS
            and its URL, a URL that is not https (or http to this machine), or a JWKS without
            keys.
    """
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("An actor needs a name of 1 to 200 characters.", hint="Pass --name.")
    try:
        actor_kind = ActorKind(kind)
    except ValueError:
        raise InvalidRequest(
            f"Unknown actor kind {kind!r}.",
            hint="Use one of: " + ", ".join(k.value for k in ActorKind) + ".",
        ) from None
    coded = parse_purpose(purpose)
    if (jwks_uri is None) == (jwks is None):
        raise InvalidRequest(
            "A backend client needs its public keys: a JWKS URL or a JWKS, one of the two.",
            hint="Pass --jwks-url URL or --jwks FILE.",
        )
    if jwks_uri is not None:
        parts = urlsplit(jwks_uri)
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not (parts.scheme == "https" or local) or not parts.hostname:
            raise InvalidRequest(
                f"The JWKS URL {jwks_uri[:200]!r} is not an https URL.",
                hint="Give the https address where the client publishes its public keys.",
            )
    if jwks is not None:
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
            raise InvalidRequest(
                "The JWKS has no keys.", hint='A JWKS is {"keys": [ {…public key…} ]}.'
            )
        if any("d" in key for key in keys):
            raise InvalidRequest(
                "The JWKS holds a private key.", hint="Register only the public keys."
            )
    actor_id = conn.execute(
        insert(actors)
        .values(
            client_id=new_client_id(),
            client_secret_hash=None,
            name=name,
            kind=actor_kind.value,
            purpose=purpose_key(coded),
            redirect_uris=[],
            created_ms=now_ms,
            jwks_uri=jwks_uri,
            jwks=jwks,
        )
        .returning(actors.c.id)
    ).scalar_one()
    return get_actor(conn, int(actor_id))


# Schemes a browser runs or reads locally instead of handing to an app: never a redirect target.
_REFUSED_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "about", "blob", "view-source"}
)
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+-]*(\.[a-z0-9][a-z0-9+-]*)+$")


def check_redirect_uri(uri: str) -> str:
    """`uri` if it may be a redirect URI (RFC 8252 and RFC 9700), as given.

    Allowed: https; http only to this machine (127.0.0.1, [::1], localhost), for native apps'
    loopback listeners; and a native app's private-use scheme named after a domain it controls,
    in reverse order (`com.example.app:/callback`). Never a fragment, credentials, a wildcard,
    spaces, quotes, backslashes or control characters.

    Raises:
        InvalidRequest: the URI says what is wrong with it and what to use.
    """
    shown = repr(uri[:200])
    if len(uri) > 2000:
        raise InvalidRequest("A redirect URI is longer than 2000 characters.")
    bad = next((ch for ch in uri if ord(ch) <= 32 or ord(ch) == 127 or ch in "\"'<>\\`{}|^"), None)
    if bad is not None:
        raise InvalidRequest(
            f"Redirect URI {shown} holds {bad!r}, which a redirect URI may not.",
            hint="Percent-encode the character, or register the URI the app really uses.",
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidRequest(f"Redirect URI {shown} is not a valid URI: {exc}.") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidRequest(
            f"Redirect URI {shown} is not an absolute URI.",
            hint="Write the whole URI, such as https://app.example/callback.",
        )
    if scheme in _REFUSED_SCHEMES:
        raise InvalidRequest(
            f"Redirect URI {shown} uses the {scheme}: scheme, which would run or read something "
            "in the browser instead of returning to an app.",
            hint="Use https, http to 127.0.0.1, or an app scheme such as com.example.app:/cb.",
        )
    if "#" in uri:
        raise InvalidRequest(f"Redirect URI {shown} has a fragment (#…), which OAuth forbids.")
    if "*" in uri:
        raise InvalidRequest(
            f"Redirect URI {shown} holds a wildcard (*).",
            hint="Register each exact URI the app uses.",
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest(f"Redirect URI {shown} carries a user name or password.")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidRequest(f"Redirect URI {shown} has no host.")
        if scheme == "http" and parts.hostname not in _LOOPBACK:
            raise InvalidRequest(
                f"Redirect URI {shown} uses plain http.",
                hint="Use https (plain http is allowed only for 127.0.0.1, [::1] and localhost).",
            )
        return uri
    if not _PRIVATE_SCHEME.match(scheme):
        raise InvalidRequest(
            f"Redirect URI {shown} uses the scheme {scheme}:, which is neither https nor an "
            "app's private-use scheme.",
            hint="A native app's scheme is a domain it controls in reverse order, with a dot "
            "(com.example.app:/callback, RFC 8252 section 7.1).",
        )
    return uri


def get_actor(conn: Connection, actor_id: int) -> Actor:
    """Raises: NotFound: no actor has this id."""
    row = conn.execute(select(actors).where(actors.c.id == actor_id)).mappings().first()
    if row is None:
        raise NotFound(f"No actor with id {actor_id}.", hint="See `healthpod actor list`.")
    return _actor(row)


def by_client_id(conn: Connection, client_id: str) -> Actor | None:
    row = conn.execute(select(actors).where(actors.c.client_id == client_id)).mappings().first()
    return None if row is None else _actor(row)


def find_actor(conn: Connection, ref: str) -> Actor:
    """An actor by id or client id (what the CLI accepts).

    Raises:
        NotFound: no actor matches.
    """
    if ref.isdigit():
        return get_actor(conn, int(ref))
    found = by_client_id(conn, ref)
    if found is None:
        raise NotFound(f"No actor with client id {ref!r}.", hint="See `healthpod actor list`.")
    return found


def list_actors(conn: Connection) -> list[Actor]:
    return [_actor(row) for row in conn.execute(select(actors).order_by(actors.c.id)).mappings()]


def disable(conn: Connection, actor_id: int, *, now_ms: int) -> Actor:
    """Disable an actor: its consents stop counting and its tokens stop working.

    Raises:
        NotFound: no actor has this id.
    """
    actor = get_actor(conn, actor_id)
    if actor.disabled:
        return actor
    conn.execute(update(actors).where(actors.c.id == actor_id).values(disabled_ms=now_ms))
    return get_actor(conn, actor_id)


def authenticate_client(conn: Connection, client_id: str, client_secret: str | None) -> Actor:
    """The enabled actor with this client id, its secret checked if it is confidential.

    Raises:
        AccessDenied: unknown client, disabled client, or a missing or wrong secret.
    """
    actor = by_client_id(conn, client_id)
    if actor is None or actor.disabled:
        raise AccessDenied("Unknown or disabled client.")
    if not verify_secret(actor, client_secret):
        raise AccessDenied("Wrong client credentials.")
    return actor


def verify_secret(actor: Actor, client_secret: str | None) -> bool:
    """Whether `client_secret` is this actor's; a public client must present none."""
    if actor.client_secret_hash is None:
        return client_secret is None
    if client_secret is None:
        return False
    return hmac.compare_digest(actor.client_secret_hash, _hash_secret(client_secret))


def new_client_id() -> str:
    """A fresh client id: hex only, because a person types it as a command argument and an id
    starting with '-' would read as an option."""
    return secrets.token_hex(16)


def _hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def _actor(row: Mapping[Any, Any]) -> Actor:
    return Actor(
        id=int(row["id"]),
        client_id=row["client_id"],
        name=row["name"],
        kind=ActorKind(row["kind"]),
        purpose=row["purpose"],
        redirect_uris=tuple(row["redirect_uris"]),
        public=row["client_secret_hash"] is None,
        created_ms=int(row["created_ms"]),
        disabled_ms=row["disabled_ms"],
        client_secret_hash=row["client_secret_hash"],
        jwks_uri=row.get("jwks_uri"),
        jwks=row.get("jwks"),
    )
