"""Identifiers of people (a Swedish personal identity number, a system's patient id), stored
only as a keyed hash and, to show them back, encrypted.

    keys = IdentifierKeys.from_key(identity_key(settings))
    value_hash = keys.hash(PERSONNUMMER, "19121212-1212")        # what finds the person
    sealed = keys.encrypt(PERSONNUMMER, "191212121212")           # what is shown back
    keys.decrypt(sealed)                                          # -> "191212121212"

A personnummer and a samordningsnummer are one namespace (a samordningsnummer's day is 61-91),
named by either URI or OID: they hash alike, so a delivery that names the OID finds the person
whose e-ID gave the number. Any other system hashes with its own URI.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from healthpod.errors import InvalidRequest

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"
SWEDISH_SYSTEMS = frozenset(
    {PERSONNUMMER, PERSONNUMMER_OID, SAMORDNINGSNUMMER, SAMORDNINGSNUMMER_OID}
)
_SWEDISH = "se:personal-identity-number"
_TWELVE_DIGITS = re.compile(r"^\d{12}$")
_VERSION = "v1"


def canonical(system: str, value: str) -> tuple[str, str]:
    """The (namespace, value) an identifier hashes as.

    Raises:
        InvalidRequest: a Swedish number that is not 12 digits (YYYYMMDDNNNN, a - or + allowed).
    """
    if system in SWEDISH_SYSTEMS:
        digits = value.strip().replace("-", "").replace("+", "")
        if not _TWELVE_DIGITS.match(digits) or not _luhn_ok(digits[2:]):
            raise InvalidRequest(
                "The personal identity number is not 12 digits with a valid check digit.",
                hint="Write it as YYYYMMDDNNNN.",
            )
        return _SWEDISH, digits
    return system, value.strip()


def _luhn_ok(ten: str) -> bool:
    total = 0
    for index, char in enumerate(ten):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class IdentifierKeys:
    """Two keys derived from the pod's identity key: one hashes, one encrypts."""

    hash_key: bytes
    encryption_key: bytes

    @classmethod
    def from_key(cls, key: bytes) -> IdentifierKeys:
        return cls(
            hmac.new(key, b"healthpod identifier hash v1", hashlib.sha256).digest(),
            hmac.new(key, b"healthpod identifier encryption v1", hashlib.sha256).digest(),
        )

    def hash(self, system: str, value: str) -> str:
        """The keyed hash (HMAC-SHA256, hex) that finds a person by this identifier.

        Raises:
            InvalidRequest: a malformed Swedish number.
        """
        namespace, normal = canonical(system, value)
        message = f"{namespace}\n{normal}".encode()
        return hmac.new(self.hash_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, system: str, value: str) -> str:
        """The identifier sealed with AES-GCM (a fresh nonce each time), as text."""
        namespace, normal = canonical(system, value)
        nonce = os.urandom(12)
        sealed = AESGCM(self.encryption_key).encrypt(nonce, normal.encode(), namespace.encode())
        namespace_b64 = base64.urlsafe_b64encode(namespace.encode()).decode()
        return f"{_VERSION}.{namespace_b64}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, text: str) -> str:
        """The identifier of `encrypt`'s text.

        Raises:
            InvalidRequest: the text was not made with this key (or was changed).
        """
        try:
            version, namespace_b64, body_b64 = text.split(".")
            namespace = base64.urlsafe_b64decode(namespace_b64)
            body = base64.urlsafe_b64decode(body_b64)
            if version != _VERSION:
                raise ValueError(version)
            return AESGCM(self.encryption_key).decrypt(body[:12], body[12:], namespace).decode()
        except (ValueError, InvalidTag) as exc:
            raise InvalidRequest(
                "A stored identity number cannot be decrypted with this pod's identity key."
            ) from exc


def masked(number: str) -> str:
    """A Swedish number as shown back: YYYYMMDD-NNNN."""
    return f"{number[:8]}-{number[8:]}" if len(number) == 12 else number
