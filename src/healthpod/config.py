"""Settings: one object, loaded once at start-up and passed in."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from healthpod.errors import ConfigError

# The languages the pod speaks (web pages, digests, the default): one list for every part.
Language = Literal["en", "sv"]
LANGUAGES: tuple[Language, ...] = ("en", "sv")

ENV_PREFIX = "HEALTHPOD_"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("healthpod", appauthor=False))


def default_demo_dir() -> Path:
    """Where `healthpod demo` keeps its pod unless given --home: beside the person's own pod's
    folder, never inside it or the same one."""
    return Path(platformdirs.user_data_dir("healthpod-demo", appauthor=False))


PERSONAL_IDENTITY_NUMBER_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
PERSONAL_IDENTITY_NUMBER_SCOPE = "https://id.oidc.se/scope/naturalPersonNumber"
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class IdentityProvider(BaseModel):
    """One OpenID Connect provider people sign in with (an e-ID broker, for example)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # in the sign-in URL: /login/eid/<name>
    label: str  # on the button: "BankID", "Freja eID"
    issuer: AnyHttpUrl  # its discovery document is <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: SecretStr | None = None
    scope: str = f"openid profile {PERSONAL_IDENTITY_NUMBER_SCOPE}"
    number_claim: str = PERSONAL_IDENTITY_NUMBER_CLAIM
    acr_values: str | None = None

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _PROVIDER_NAME.match(value):
            raise ValueError(f"{value!r}: use lower-case letters, digits and -, as in bankid")
        return value

    @property
    def issuer_text(self) -> str:
        """The issuer exactly as the ID token must name it (no trailing slash added)."""
        return str(self.issuer).rstrip("/")


class Settings(BaseSettings):
    """Every setting healthpod reads, from `HEALTHPOD_*` variables or arguments."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    home: Path = default_data_dir()
    database_url: str | None = None
    # PostgreSQL: the owner role's URL for `healthpod init` and `db upgrade`; the app role's
    # (`database_url`) owns no table. None: migrations use `database_url` too.
    migration_database_url: str | None = None
    # A pooler in transaction mode (PgBouncer) in front: psycopg prepares no statements.
    database_pooler: bool = False
    base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    default_locale: Language = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    server_threads: Annotated[int, Field(ge=1, le=64)] = 4
    max_upload_mb: Annotated[int, Field(ge=1, le=1024 * 1024)] = 4096
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    access_log_key: SecretStr | None = None
    access_log_key_file: Path | None = None
    identity_providers: tuple[IdentityProvider, ...] = ()
    identity_key: SecretStr | None = None
    identity_key_file: Path | None = None
    terms_version: Annotated[str, Field(min_length=1, max_length=50)] = "1"
    password_login: bool = True
    guardian_age_limit: Annotated[int, Field(ge=1, le=25)] = 13
    # The most privacy budget (epsilon) all studies together may spend on one person in a
    # year (healthpod.research.aggregate); a release that would pass it is refused.
    research_yearly_epsilon: Annotated[float, Field(gt=0, le=1000)] = 10.0
    # The key of the per-study pseudonyms in a study's record export (healthpod.keys).
    research_key: SecretStr | None = None
    research_key_file: Path | None = None
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool | None = None
    smtp_from: str = "healthpod@localhost"
    smtp_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    jobs: Literal["auto", "in-process", "workers"] = "auto"
    map_tile_url: Annotated[
        str, Field(pattern=r"^https://[^/{}]+/[^\s]*\{z\}[^\s]*\{x\}[^\s]*\{y\}[^\s]*$")
    ] = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    trusted_identifier_systems: Annotated[tuple[str, ...], NoDecode] = (
        "http://electronichealth.se/identifier/personnummer",
        "urn:oid:1.2.752.129.2.1.3.1",
        "http://electronichealth.se/identifier/samordningsnummer",
        "urn:oid:1.2.752.129.2.1.3.3",
    )

    @field_validator("trusted_identifier_systems", mode="before")
    @classmethod
    def _systems(cls, value: object) -> object:
        # Comma-separated identifier system URIs whose patient identifiers find a person.
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("identity_providers")
    @classmethod
    def _unique_providers(cls, value: tuple[IdentityProvider, ...]) -> tuple[IdentityProvider, ...]:
        names = [provider.name for provider in value]
        if len(set(names)) != len(names):
            raise ValueError("two identity providers have the same name")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        # One comma-separated variable, as people write it; each must be an exact origin.
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for origin in value:
                if not isinstance(origin, str) or not _ORIGIN.match(origin):
                    raise ValueError(
                        f"{origin!r} is not an origin such as https://app.example "
                        "(scheme, host and optional port; no path, no wildcard)"
                    )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        # Comma-separated addresses or networks of the reverse proxies in front of the server.
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for proxy in value:
                try:
                    ipaddress.ip_network(str(proxy), strict=False)
                except ValueError:
                    raise ValueError(
                        f"{proxy!r} is not an IP address or network such as 10.0.0.5 or 10.0.0.0/24"
                    ) from None
        return value

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.home / 'healthpod.db'}"

    @property
    def effective_migration_url(self) -> str:
        """The URL migrations run on: the owner role's, or the app's when none is set."""
        return self.migration_database_url or self.effective_database_url

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`trusted_proxies` as networks (a single address is a /32 or /128)."""
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @property
    def public_base_url(self) -> str:
        """The base URL without a trailing slash, for building absolute links."""
        return str(self.base_url).rstrip("/")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment plus explicit overrides.

    Raises:
        ConfigError: a setting has a bad value; the message names it.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{ENV_PREFIX}{name.upper()}: {error['msg']}")
        raise ConfigError(
            "Bad setting: " + "; ".join(problems),
            hint="Fix the environment variable or option and try again.",
        ) from exc
