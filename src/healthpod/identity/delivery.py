"""Deliveries from healthcare: records for many patients, each stored only in the pod of the
person it is about, and only if that person allowed this provider to write.

    report = deliver(pod, actor_id, path, kind="ndjson", filename="delivery.ndjson")
    report.operation_outcome()      # one issue per patient: stored, or why not

`deliver` takes the stored upload (a file), so it can run in the request or as a queued job;
the caller deletes the file afterwards. The file is read twice and never whole: first the
Patient resources (each matched to a person by an identifier of a trusted system, through the
keyed hash of `healthpod.identity.numbers`, then decided by that person's consents through the
one door), then every other resource, kept only for the patients whose person allowed it.
A patient who matches no person, or one who has not allowed this provider, gets the same
answer, so a delivery does not tell a provider who has joined; one who matches two persons is
not stored and logged for the operator. Nothing of a patient that was not stored is written
anywhere, not even to the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from healthpod import json_input
from healthpod.consent import access
from healthpod.consent.actors import Actor, get_actor
from healthpod.consent.model import AccessRequest, Action
from healthpod.errors import AccessDenied, HealthpodError, InvalidRequest
from healthpod.identity.numbers import IdentifierKeys
from healthpod.keys import identity_key
from healthpod.pod import Pod, now_ms
from healthpod.store import identities
from healthpod.store.person_data import PersonData

logger = logging.getLogger(__name__)

Kind = Literal["ndjson", "bundle"]
PATIENT_REFERENCES = ("subject", "patient", "beneficiary", "individual")
SPOOL_HELD = 5000  # resources held in memory before they go to the spool files
NOT_ALLOWED = "not stored: no person here has allowed deliveries from you for this patient"


@dataclass
class PatientOutcome:
    reference: str  # Patient/<the provider's id>
    stored: bool
    code: str  # FHIR IssueType
    message: str
    added: int = 0
    left_out: int = 0


@dataclass
class DeliveryReport:
    patients: list[PatientOutcome] = field(default_factory=list)
    without_patient: int = 0  # resources that name no patient (organisations, practitioners)

    @property
    def stored_patients(self) -> int:
        return sum(1 for p in self.patients if p.stored)

    def operation_outcome(self) -> dict[str, Any]:
        issues: list[dict[str, Any]] = []
        for patient in self.patients:
            issues.append(
                {
                    "severity": "information" if patient.stored else "error",
                    "code": patient.code,
                    "diagnostics": f"{patient.reference}: {patient.message}",
                    "expression": [patient.reference],
                }
            )
        if self.without_patient:
            issues.append(
                {
                    "severity": "warning",
                    "code": "not-supported",
                    "diagnostics": (
                        f"{self.without_patient} resources name no patient (organisations, "
                        "practitioners, locations): not stored."
                    ),
                }
            )
        if not issues:
            issues.append(
                {"severity": "warning", "code": "not-found", "diagnostics": "No patients."}
            )
        return {"resourceType": "OperationOutcome", "issue": issues}


def deliver(
    pod: Pod,
    actor_id: int,
    path: Path,
    *,
    kind: Kind,
    filename: str,
    spool_held: int = SPOOL_HELD,
) -> DeliveryReport:
    """Deliver the records in the stored upload at `path` for the patients they are about.

    At most `spool_held` resources are held in memory at a time.

    Raises:
        InvalidRequest: the file is not NDJSON of FHIR resources or a FHIR Bundle (nothing is
            stored then).
        NotFound: no such actor.
    """
    with pod.engine.connect() as conn:
        actor = get_actor(conn, actor_id)
    patients = _patients(path, kind)  # reads and checks the whole file before storing anything
    keys = IdentifierKeys.from_key(identity_key(pod.settings))
    trusted = set(pod.settings.trusted_identifier_systems)
    report = DeliveryReport()
    doors: dict[str, tuple[PersonData, int]] = {}  # patient key -> (door, person id)
    outcomes: dict[str, PatientOutcome] = {}
    for reference, patient in patients.items():
        outcome = _admit(pod, actor, reference, patient, keys, trusted, doors, path)
        outcomes[reference] = outcome
        report.patients.append(outcome)
    aliases = _aliases(patients)
    digest = _sha256(path)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".spool-") as spool_dir:
        spool = _Spool(Path(spool_dir), list(doors), spool_held)
        for resource, _full_url in _resources(path, kind):
            if resource.get("resourceType") == "Patient":
                key = aliases.get(f"Patient/{resource.get('id')}")
            else:
                key = _patient_of(resource, aliases)
            if key is None:
                report.without_patient += 1
            elif key in doors:
                spool.add(key, resource)
        spool.flush()
        for key, (data, person_id) in doors.items():
            _store(data, person_id, outcomes[key], spool.read(key), actor, filename, digest)
    logger.info(
        "delivery actor_id=%d patients=%d stored=%d without_patient=%d",
        actor.id,
        len(report.patients),
        report.stored_patients,
        report.without_patient,
    )
    return report


def _store(
    data: PersonData,
    person_id: int,
    outcome: PatientOutcome,
    delivered: Iterator[dict[str, Any]],
    actor: Actor,
    filename: str,
    digest: str,
) -> None:
    try:
        with data.writer() as write:
            result, left_out = write.add_delivery(
                delivered,
                organisation=actor.name,
                filename=f"{filename} ({actor.name})",
                sha256=digest,
                now_ms=now_ms(),
            )
    except HealthpodError as exc:
        outcome.stored, outcome.code = False, "processing"
        outcome.message = f"not stored: {exc.message}"
        logger.warning("delivery to person_id=%d failed: %s", person_id, exc.message)
        return
    outcome.added = sum((result.added + result.updated).values())
    outcome.left_out = sum(left_out.values())
    outcome.message = (
        f"stored in the person's pod: {outcome.added} new or changed, "
        f"{sum(result.unchanged.values())} already there"
        + (
            f", {outcome.left_out} left out (categories the consent does not cover)"
            if outcome.left_out
            else ""
        )
    )


class _Spool:
    """Each allowed patient's resources, in a file of their own beside the upload, so memory
    holds at most `limit` resources whatever the size of the delivery."""

    def __init__(self, folder: Path, keys: list[str], limit: int) -> None:
        self.paths = {key: folder / f"{n}.ndjson" for n, key in enumerate(keys)}
        self.limit = max(1, limit)
        self.held: dict[str, list[bytes]] = defaultdict(list)
        self.count = 0

    def add(self, key: str, resource: dict[str, Any]) -> None:
        self.held[key].append(json.dumps(resource, separators=(",", ":")).encode())
        self.count += 1
        if self.count >= self.limit:
            self.flush()

    def flush(self) -> None:
        for key, lines in self.held.items():
            with self.paths[key].open("ab") as out:
                out.write(b"\n".join(lines) + b"\n")
        self.held.clear()
        self.count = 0

    def read(self, key: str) -> Iterator[dict[str, Any]]:
        path = self.paths[key]
        if not path.exists():
            return
        with path.open("rb") as fp:
            for line in fp:
                if line.strip():
                    yield json.loads(line)


def _admit(
    pod: Pod,
    actor: Actor,
    reference: str,
    patient: dict[str, Any],
    keys: IdentifierKeys,
    trusted: set[str],
    doors: dict[str, tuple[PersonData, int]],
    path: Path,
) -> PatientOutcome:
    hashes: list[str] = []
    for identifier in patient.get("identifier") or []:
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if system in trusted and isinstance(value, str) and value.strip():
            try:
                hashes.append(keys.hash(system, value))
            except InvalidRequest:
                continue  # a malformed number matches no one
    if not hashes:
        return PatientOutcome(
            reference,
            False,
            "required",
            "not stored: the patient has no identifier of a system this region trusts",
        )
    with pod.engine.connect() as conn:
        persons = identities.persons_matching(conn, hashes)
    if not persons:
        return PatientOutcome(reference, False, "not-found", NOT_ALLOWED)
    if len(persons) > 1:
        logger.warning(
            "delivery patient matches %d persons actor_id=%d: not stored", len(persons), actor.id
        )
        return PatientOutcome(
            reference,
            False,
            "multiple-matches",
            "not stored: the patient's identifiers match more than one person here",
        )
    person_id = persons[0]
    try:
        data = access.open_for_actor(
            pod.engine,
            pod.reads,
            AccessRequest(person_id, actor.id, Action.WRITE),
            event="delivery",
            details={"from": actor.name, "file": path.name[:100]},
            now_ms=now_ms(),
        )
    except AccessDenied:
        return PatientOutcome(reference, False, "not-found", NOT_ALLOWED)
    doors[reference] = (data, person_id)
    return PatientOutcome(reference, True, "informational", "stored")


def _resources(path: Path, kind: Kind) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(resource, its fullUrl) for each resource of the file.

    Raises:
        InvalidRequest: a line or the Bundle is not FHIR JSON.
    """
    if kind == "ndjson":
        with path.open("rb") as fp:
            for number, line in enumerate(fp, start=1):
                if not line.strip():
                    continue
                try:
                    resource = json_input.loads(line)
                except json_input.BadJson as exc:
                    raise InvalidRequest(
                        f"Line {number} is not a FHIR resource in JSON: {exc}.",
                        hint="Send NDJSON: one FHIR resource per line (application/fhir+ndjson).",
                    ) from None
                if not isinstance(resource, dict) or not isinstance(
                    resource.get("resourceType"), str
                ):
                    raise InvalidRequest(
                        f"Line {number} is not a FHIR resource in JSON.",
                        hint="Send NDJSON: one FHIR resource per line (application/fhir+ndjson).",
                    )
                yield resource, None
        return
    try:
        bundle = json_input.loads(path.read_bytes())
    except json_input.BadJson as exc:
        raise InvalidRequest(
            f"The body is not usable JSON: {exc}.",
            hint="Send a FHIR Bundle (application/fhir+json).",
        ) from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest(
            "The body is not a FHIR Bundle.",
            hint="Send a transaction Bundle, or NDJSON as application/fhir+ndjson.",
        )
    for number, entry in enumerate(bundle.get("entry") or [], start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise InvalidRequest(f"Bundle entry {number} has no resource.")
        full_url = entry.get("fullUrl")
        yield resource, full_url if isinstance(full_url, str) else None


def _patients(path: Path, kind: Kind) -> dict[str, dict[str, Any]]:
    """Every Patient of the file by `Patient/<id>`, with the fullUrl it may be referred by."""
    found: dict[str, dict[str, Any]] = {}
    for resource, full_url in _resources(path, kind):
        if resource["resourceType"] != "Patient":
            continue
        fhir_id = resource.get("id")
        if not isinstance(fhir_id, str) or not fhir_id:
            raise InvalidRequest("A Patient has no id.", hint="Give every Patient its id.")
        reference = f"Patient/{fhir_id}"
        found[reference] = {**resource, "_fullUrl": full_url}
    return found


def _aliases(patients: dict[str, dict[str, Any]]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for reference, patient in patients.items():
        aliases[reference] = reference
        full_url = patient.get("_fullUrl")
        if isinstance(full_url, str):
            aliases[full_url] = reference
    return aliases


def _patient_of(resource: dict[str, Any], aliases: dict[str, str]) -> str | None:
    for name in PATIENT_REFERENCES:
        element = resource.get(name)
        if isinstance(element, dict):
            target = element.get("reference")
            if isinstance(target, str) and target in aliases:
                return aliases[target]
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for chunk in iter(lambda: fp.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
