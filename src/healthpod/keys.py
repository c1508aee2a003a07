"""Secret keys kept in the pod's home directory (never in the database or the environment)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from healthpod.errors import ConfigError

if TYPE_CHECKING:
    from healthpod.config import Settings

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
ACCESS_LOG_KEY_FILE = "access_log_key"


def access_log_key(settings: Settings) -> bytes:
    """The key of the access log's HMAC chain, kept outside the database.

    A region names it in the settings (`HEALTHPOD_ACCESS_LOG_KEY`, or a file in
    `HEALTHPOD_ACCESS_LOG_KEY_FILE`); a pod keeps it in its home directory beside the secret
    key, created on first use with mode 0600. It is a file of its own so that a new secret key
    (which logs everyone out) leaves the log verifiable.

    Raises:
        ConfigError: both settings are given, or the key is missing, unreadable or too short.
    """
    given = settings.access_log_key
    if given is not None and settings.access_log_key_file is not None:
        raise ConfigError(
            "Both HEALTHPOD_ACCESS_LOG_KEY and HEALTHPOD_ACCESS_LOG_KEY_FILE are set.",
            hint="Keep one of them.",
        )
    if given is not None:
        key = given.get_secret_value().strip()
        if len(key) < 32:
            raise ConfigError(
                "HEALTHPOD_ACCESS_LOG_KEY is shorter than 32 characters.",
                hint="Use a long random value, e.g. from `openssl rand -base64 48`.",
            )
        return key.encode()
    if settings.access_log_key_file is not None:
        path = settings.access_log_key_file
        if not path.exists():
            raise ConfigError(
                f"HEALTHPOD_ACCESS_LOG_KEY_FILE: {path} does not exist.",
                hint="Create it with a long random value; losing it makes the log unverifiable.",
            )
        return _read_key(path, "HEALTHPOD_ACCESS_LOG_KEY_FILE")
    return _key_file(settings.home, ACCESS_LOG_KEY_FILE)


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
