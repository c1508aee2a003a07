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
import uuid
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
from healthpod.fhir import observation_search, render, resource_search, search
from healthpod.insights import summaries
from healthpod.pod import Pod
from healthpod.store import share_links
from healthpod.store.person_data import PersonData, Reader
from healthpod.store.share_links import ShareLink
from healthpod.vocabulary import RESOURCE_CATEGORIES

ATTEMPTS = 10  # wrong passcodes a link survives
LABEL_MAX = 80  # the specification's limit
FILE_URL_MS = 5 * 60_000  # how long a `location` URL serves its file
PAGE = 1000
MAX_OBSERVATIONS = 20_000  # a summary, not an export: raw samples beyond this are left out
CONTENT_TYPE = "application/fhir+json"
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# The patient summary's sections (IPS section codes, LOINC) and what goes in each.
SECTIONS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("11450-4", "Problem list", frozenset({"Condition"})),
    (
        "10160-0",
        "Medication summary",
        frozenset(t for t, c in RESOURCE_CATEGORIES.items() if c.value == "medications"),
    ),
    ("48765-2", "Allergies and intolerances", frozenset({"AllergyIntolerance"})),
    ("11369-6", "Immunizations", frozenset({"Immunization"})),
    ("47519-4", "History of procedures", frozenset({"Procedure"})),
    ("30954-2", "Results", frozenset({"DiagnosticReport"})),
)
VITAL_SIGNS = ("8716-3", "Vital signs")


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
    assert made.data is not None
    bundle, ids = summary_bundle(
        made.data, made.records, base=pod.settings.public_base_url, now_ms=now_ms
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


def summary_bundle(
    data: PersonData, records: PersonData | None, *, base: str, now_ms: int
) -> tuple[dict[str, Any], list[str]]:
    """A FHIR document Bundle: a Composition, the Patient as the scope shows it, and every
    resource the scopes show (`records`: a daily link's records from healthcare), grouped in
    the patient summary's sections."""
    if data.scope.daily_only:
        with data.writer() as write:
            summaries.catch_up(write)
    found: list[dict[str, Any]] = []
    with data.reader() as read:
        identity = read.identity()
        assert identity is not None
        patient = render.patient(identity)
        found += _observations(read)
    for reader in (data,) if records is None else (data, records):
        with reader.reader() as read:
            if reader is records:
                found += _observations(read)  # Observations from healthcare
            found += _records(read)
    fhir = f"{base}/fhir"
    patient_ref = f"Patient/{patient['id']}"
    sections: list[dict[str, Any]] = []
    for code, title, types in SECTIONS:
        refs = [f"{r['resourceType']}/{r['id']}" for r in found if r["resourceType"] in types]
        if refs:
            sections.append(_section(code, title, refs))
    vitals = [f"Observation/{r['id']}" for r in found if r["resourceType"] == "Observation"]
    if vitals:
        sections.append(_section(*VITAL_SIGNS, vitals))
    now = _iso(now_ms)
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {
            "coding": [
                {"system": "http://loinc.org", "code": "60591-5", "display": "Patient summary"}
            ]
        },
        "subject": {"reference": patient_ref},
        "date": now,
        "author": [{"reference": patient_ref}],
        "title": "Patient summary",
        "section": sections,
    }
    entries = [
        {"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition},
        {"fullUrl": f"{fhir}/{patient_ref}", "resource": patient},
        *({"fullUrl": f"{fhir}/{r['resourceType']}/{r['id']}", "resource": r} for r in found),
    ]
    bundle = {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": now,
        "entry": entries,
    }
    ids = [patient_ref, *(f"{r['resourceType']}/{r['id']}" for r in found)]
    return bundle, ids


def _section(code: str, title: str, refs: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "entry": [{"reference": ref} for ref in refs],
    }


def _observations(read: Reader) -> list[dict[str, Any]]:
    """Observations within the scope (daily summaries under a daily grant), up to a limit."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(found) < MAX_OBSERVATIONS:
        params = [("_count", str(PAGE))]
        if cursor is not None:
            params.append(("_cursor", cursor))
        query = search.parse("Observation", params, strict=True, allowed=search.OBSERVATION_PARAMS)
        page, after, _total = observation_search.search(read, query)
        found += [_as_dict(r) for r in page]
        if after is None:
            break
        cursor = after.text()
    return found[:MAX_OBSERVATIONS]


def _records(read: Reader) -> list[dict[str, Any]]:
    """Every record from healthcare but Observations that the reader's scope shows."""
    found: list[dict[str, Any]] = []
    for resource_type in sorted(RESOURCE_CATEGORIES):
        if not read.scope.covers_category(RESOURCE_CATEGORIES[resource_type].value):
            continue
        query = search.parse(resource_type, [], strict=True, allowed=search.RESOURCE_PARAMS)
        offset = 0
        while True:
            rows, _total = resource_search.search(read, query, offset=offset, limit=PAGE)
            found += rows
            if len(rows) < PAGE:
                break
            offset += PAGE
    return found


def _as_dict(resource: dict[str, Any] | render.Rendered) -> dict[str, Any]:
    if isinstance(resource, render.Rendered):
        loaded: dict[str, Any] = json.loads(resource.json)
        return loaded
    return resource


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
