"""Secret keys kept in the pod's home directory (never in the database or the environment)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from healthpod.errors import ConfigError

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


def secret_key(home: Path) -> bytes:
    """The pod's secret key (signs session cookies), created on first use with mode 0600.

    Several workers starting at once agree on one key: the file is created exclusively and
    whoever loses the race reads the winner's key (the file appears whole, by a hard link).

    Raises:
        ConfigError: the key file cannot be created or is empty.
    """
    path = home / SECRET_KEY_FILE
    if not path.exists():
        try:
            home.mkdir(parents=True, exist_ok=True)
            _create_exclusively(path, secrets.token_urlsafe(48))
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the secret key file {path}: {exc.strerror or exc}.",
                hint="Check that the pod's home directory is writable.",
            ) from exc
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read the secret key file {path}: {exc.strerror}.") from exc
    if len(key) < 32:
        raise ConfigError(
            f"The secret key file {path} is empty or too short.",
            hint="Delete it and run `healthpod init` to make a new one (everyone is logged out).",
        )
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
