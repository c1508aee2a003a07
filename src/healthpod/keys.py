"""Secret keys kept in the pod's home directory (never in the database or the environment)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from healthpod.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from healthpod.config import Settings

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
ACCESS_LOG_KEY_FILE = "access_log_key"


IDENTITY_KEY_FILE = "identity_key"
RESEARCH_KEY_FILE = "research_key"


def access_log_key(settings: Settings) -> bytes:
    """The key of the access log's HMAC chain, kept outside the database.

    A region names it in the settings (`HEALTHPOD_ACCESS_LOG_KEY`, or a file in
    `HEALTHPOD_ACCESS_LOG_KEY_FILE`); a pod keeps it in its home directory beside the secret
    key, created on first use with mode 0600. It is a file of its own so that a new secret key
    (which logs everyone out) leaves the log verifiable.

    Raises:
        ConfigError: both settings are given, or the key is missing, unreadable or too short.
    """
    return _configured_key(
        settings.home,
        settings.access_log_key,
        settings.access_log_key_file,
        "HEALTHPOD_ACCESS_LOG_KEY",
        ACCESS_LOG_KEY_FILE,
        lost="losing it makes the log unverifiable",
    )


def identity_key(settings: Settings) -> bytes:
    """The key that hashes and encrypts personal identity numbers (`healthpod.identity.numbers`).

    Kept like the access log's key: `HEALTHPOD_IDENTITY_KEY`, a file in
    `HEALTHPOD_IDENTITY_KEY_FILE`, or a file in the pod's home made on first use. Every server
    of a region must share it: another key finds no one by their number.

    Raises:
        ConfigError: both settings are given, or the key is missing, unreadable or too short.
    """
    return _configured_key(
        settings.home,
        settings.identity_key,
        settings.identity_key_file,
        "HEALTHPOD_IDENTITY_KEY",
        IDENTITY_KEY_FILE,
        lost="losing it means no one is found by their e-ID again",
    )


def research_key(settings: Settings) -> bytes:
    """The key of the per-study pseudonyms of a study's record export (`research.records`).

    Kept like the identity key: `HEALTHPOD_RESEARCH_KEY`, a file in
    `HEALTHPOD_RESEARCH_KEY_FILE`, or the file `research_key` in the pod's home made on first
    use. Every server of a region must share it.

    Raises:
        ConfigError: both settings are given, or the key is missing, unreadable or too short.
    """
    return _configured_key(
        settings.home,
        settings.research_key,
        settings.research_key_file,
        "HEALTHPOD_RESEARCH_KEY",
        RESEARCH_KEY_FILE,
        lost="a new key gives every participant a new pseudonym",
    )


def _configured_key(
    home: Path,
    given: SecretStr | None,
    given_file: Path | None,
    variable: str,
    default_file: str,
    *,
    lost: str,
) -> bytes:
    if given is not None and given_file is not None:
        raise ConfigError(
            f"Both {variable} and {variable}_FILE are set.",
            hint="Keep one of them.",
        )
    if given is not None:
        key = given.get_secret_value().strip()
        if len(key) < 32:
            raise ConfigError(
                f"{variable} is shorter than 32 characters.",
                hint="Use a long random value, e.g. from `openssl rand -base64 48`.",
            )
        return key.encode()
    if given_file is not None:
        if not given_file.exists():
            raise ConfigError(
                f"{variable}_FILE: {given_file} does not exist.",
                hint=f"Create it with a long random value; {lost}.",
            )
        return _read_key(given_file, f"{variable}_FILE")
    return _key_file(home, default_file)


def secret_key(home: Path) -> bytes:
    """The pod's secret key (signs session cookies), created on first use with mode 0600.

    Several workers starting at once agree on one key: the file is created exclusively and
    whoever loses the race reads the winner's key (the file appears whole, by a hard link).

    Raises:
        ConfigError: the key file cannot be created or is empty.
    """
    return _key_file(home, SECRET_KEY_FILE)


def _key_file(home: Path, name: str) -> bytes:
    path = home / name
    if not path.exists():
        try:
            home.mkdir(parents=True, exist_ok=True)
            _create_exclusively(path, secrets.token_urlsafe(48))
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the key file {path}: {exc.strerror or exc}.",
                hint="Check that the pod's home directory is writable.",
            ) from exc
    return _read_key(path, "The key file")


def _read_key(path: Path, what: str) -> bytes:
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror}.") from exc
    if len(key) < 32:
        hint = "Put a long random value in it."
        if path.name == SECRET_KEY_FILE:
            hint = "Delete it and run `healthpod init` to make a new one (everyone is logged out)."
        raise ConfigError(f"{what} {path} is empty or too short.", hint=hint)
    return key.encode()


def _create_exclusively(path: Path, content: str) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(content)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
