"""SMART Health Links (HL7 SMART Health Cards and Links IG): make, list, revoke, and answer.

    made = links.create(pod, person_id, LinkRequest(categories=..., expires_ms=...), now_ms=now)
    made.shlink          # "shlink:/eyJ1cmwiOi…": url, key, exp, flag, label, v

A link is a grant to whoever holds it, decided by `consent.access.open_for_link` and logged in
the person's access log with the link as `via`. Its one file is a FHIR document Bundle (a
patient summary within the link's categories and window) encrypted as compact JWE (`dir`,
`A256GCM`, `cty: application/fhir+json`) with the 32-byte key that only the payload carries:
unless the link is long-term (`L`), the key is dropped once the file is made, so the pod keeps
ciphertext only. An `L` link keeps its key and makes a fresh file (fresh data, fresh IV) for
each request.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc import jwe
from joserfc.jwk import OctKey

from healthpod.consent import access, audit
from healthpod.consent.model import ALL_CATEGORIES, Granularity
from healthpod.errors import InvalidRequest, NotFound
from healthpod.pod import Pod
from healthpod.share import pseudonyms, summary
from healthpod.store import share_links
from healthpod.store.share_links import ShareLink

ATTEMPTS = 10  # wrong passcodes a link survives
LABEL_MAX = 80  # the specification's limit
FILE_URL_MS = 5 * 60_000  # how long a `location` URL serves its file
CONTENT_TYPE = "application/fhir+json"
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """What the person asks for when making a link."""

    categories: frozenset[str]
    expires_ms: int
    data_from_ms: int | None = None
    data_to_ms: int | None = None
    granularity: Granularity = Granularity.DAILY
    passcode: str | None = None
    label: str | None = None
    long_term: bool = False  # L: the file is made anew on each request
    direct: bool = False  # U: the single file by GET on the URL itself


@dataclass(frozen=True, slots=True)
class Made:
    link: ShareLink
    shlink: str
    viewer_url: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.link.id,
            "shlink": self.shlink,
            "viewer_url": self.viewer_url,
            "expires": _iso(self.link.expires_ms),
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check(asked: LinkRequest, now_ms: int) -> None:
    """Raises InvalidRequest for a link that could not be made as asked; nothing is stored."""
    unknown = sorted(asked.categories - ALL_CATEGORIES)
    if unknown or not asked.categories:
        raise InvalidRequest(
            f"Unknown data categor{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}."
            if unknown
            else "No data category was given.",
            hint="Give --categories as a comma list of: " + ", ".join(sorted(ALL_CATEGORIES)),
        )
    if asked.expires_ms <= now_ms:
        raise InvalidRequest("The link would expire before it is made.", hint="Use --expires 7d.")
    if (
        asked.data_from_ms is not None
        and asked.data_to_ms is not None
        and asked.data_from_ms >= asked.data_to_ms
    ):
        raise InvalidRequest("--from is not before --to.", hint="Give --from before --to.")
    if asked.label is not None and len(asked.label) > LABEL_MAX:
        raise InvalidRequest(
            f"The label has {len(asked.label)} characters; a link's label has at most 80.",
            hint="Shorten --label.",
        )
    if asked.passcode is not None and not asked.passcode.strip():
        raise InvalidRequest("The passcode is empty.", hint="Give a passcode, or none at all.")
    if asked.passcode is not None and asked.direct:
        raise InvalidRequest(
            "A direct (U) link cannot have a passcode: the specification does not allow both.",
            hint="Leave out --direct or the passcode.",
        )


def create(pod: Pod, person_id: int, asked: LinkRequest, *, now_ms: int) -> Made:
    """Make a link and its file; the payload is returned once and kept nowhere."""
    check(asked, now_ms)
    token = secrets.token_urlsafe(32)  # 256 bits
    key = b64url(secrets.token_bytes(32))
    flags = "".join(
        f for f, on in (("L", asked.long_term), ("P", asked.passcode), ("U", asked.direct)) if on
    )
    with pod.engine.begin() as conn:
        link_id = share_links.add(
            conn,
            person_id,
            token=token,
            label=asked.label,
            flags=flags,
            categories=asked.categories,
            data_from_ms=asked.data_from_ms,
            data_to_ms=asked.data_to_ms,
            granularity=asked.granularity,
            expires_ms=asked.expires_ms,
            passcode_hash=HASHER.hash(asked.passcode) if asked.passcode else None,
            attempts=ATTEMPTS if asked.passcode else None,
            key=key,
            now_ms=now_ms,
        )
    made = access.open_for_link(
        pod.engine,
        pod.reads,
        link_id=(person_id, link_id),
        by_person=True,
        event="share_link.created",
        now_ms=now_ms,
    )
    assert made.allowed and made.data is not None
    jwe_text = encrypt_file(made, key, pod=pod, now_ms=now_ms)
    with pod.engine.begin() as conn:
        share_links.set_file(conn, person_id, link_id, jwe_text, keep_key="L" in flags)
        link = share_links.get(conn, person_id, link_id)
    assert link is not None
    payload: dict[str, Any] = {
        "url": f"{pod.settings.public_base_url}/shl/{token}",
        "key": key,
        "exp": asked.expires_ms // 1000,
    }
    if flags:
        payload["flag"] = flags
    if asked.label:
        payload["label"] = asked.label
    payload["v"] = 1
    shlink = "shlink:/" + b64url(json.dumps(payload, separators=(",", ":")).encode())
    return Made(link, shlink, f"{pod.settings.public_base_url}/shl/view#{shlink}")


def encrypt_file(made: access.LinkAccess, key: str, *, pod: Pod, now_ms: int) -> str:
    """The summary behind an allowed link request as compact JWE, its contents logged."""
    assert made.data is not None and made.link is not None
    bundle, ids = summary.bundle(
        made.data,
        made.records,
        ids=pseudonyms.for_link(pod.settings, made.link),
        base=pod.settings.public_base_url,
        now_ms=now_ms,
    )
    access.link_returned(pod.engine, made, ids, now_ms=now_ms)
    return encrypt(json.dumps(bundle, separators=(",", ":")).encode(), key)


def encrypt(plaintext: bytes, key: str) -> str:
    """Compact JWE, `dir` + `A256GCM`, a fresh random IV each time."""
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    header = {"alg": "dir", "enc": "A256GCM", "cty": CONTENT_TYPE}
    return jwe.encrypt_compact(header, plaintext, OctKey.import_key(raw))


def passcode_checker(passcode: str | None) -> Any:
    """A check of `passcode` against a link's argon2 hash, for `open_for_link`."""

    def ok(link: ShareLink) -> bool:
        if passcode is None or link.passcode_hash is None:
            return False
        try:
            return bool(HASHER.verify(link.passcode_hash, passcode))
        except (VerificationError, InvalidHashError):
            return False

    return ok


def file_for(pod: Pod, made: access.LinkAccess, *, now_ms: int) -> str:
    """The link's encrypted file: as stored, or made anew for an `L` link."""
    link = made.link
    assert link is not None
    if "L" in link.flags and link.key is not None:
        return encrypt_file(made, link.key, pod=pod, now_ms=now_ms)
    if link.file_jwe is None:
        raise NotFound("This share link has no file.")
    return link.file_jwe


def of_person(pod: Pod, person_id: int) -> list[ShareLink]:
    with pod.reads.connect() as conn:
        return share_links.of_person(conn, person_id)


def revoke(pod: Pod, person_id: int, link_id: int, *, now_ms: int) -> None:
    """Revoke one of the person's links: its file and file URLs are deleted.

    Raises:
        NotFound: the person has no link with this id.
    """
    with pod.engine.begin() as conn:
        done = share_links.revoke(conn, person_id, link_id, now_ms=now_ms)
        if done:
            audit.record(
                conn,
                person_id,
                None,
                "share_link.revoked",
                "ok",
                {"link": link_id},
                now_ms=now_ms,
                reason=f"you revoked share link {link_id}",
                done_by=audit.DoneBy.PERSON,
                via=f"share-link/{link_id}",
            )
    if not done:
        raise NotFound(
            f"You have no share link with id {link_id}.", hint="See `healthpod share link list`."
        )
