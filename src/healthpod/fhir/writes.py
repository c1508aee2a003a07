"""Observation create by an actor with a write consent, kept as actor-entered data.

The body is checked (JSON, an Observation, valid FHIR R4B, not too big or deep) before any
consent is asked; the server gives it a new id (nothing of the person's is ever overwritten,
least of all professional data), makes the person its subject, and stores it with provenance
"actor" and the actor's name, so the person always sees who wrote it.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from pydantic import ValidationError

from healthpod.errors import InvalidRequest, UnsupportedFormat
from healthpod.store.person_data import Writer

MAX_BODY_BYTES = 256 * 1024
JSON_TYPES = ("application/fhir+json", "application/json")


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "too-costly"


def parse_observation(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The posted Observation as a dict.

    Raises:
        UnsupportedFormat: not JSON.
        PayloadTooLarge: over MAX_BODY_BYTES.
        InvalidRequest: not JSON, not an Observation, or not valid FHIR R4.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedFormat(
            f"Content-Type {media or '(none)'} is not supported.",
            hint="Send the Observation as application/fhir+json.",
        )
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is over {MAX_BODY_BYTES // 1024} KB.")
    try:
        resource = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(
            f"The body is not valid JSON ({str(exc)[:120]}).", hint="Send one JSON object."
        ) from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        raise InvalidRequest(
            "The body must be an Observation (resourceType 'Observation').",
            hint="POST other resource types to their own endpoint (not supported here).",
        )
    _validate(resource)
    return resource


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Observation.status has a required binding, which the model library does not check.
STATUSES = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)


def _validate(resource: dict[str, Any]) -> None:
    from fhir.resources.R4B.observation import Observation

    if resource.get("status") not in STATUSES:
        raise InvalidRequest(
            f"Observation.status {resource.get('status')!r} is not a FHIR status.",
            hint="Use one of: " + ", ".join(sorted(STATUSES)) + ".",
        )
    try:
        Observation.model_validate(resource)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise InvalidRequest(
            f"The Observation is not valid FHIR R4: {problems}",
            hint="Check status, code and the value against the Observation resource.",
        ) from None


def store_observation(
    write: Writer, resource: dict[str, Any], *, actor_name: str, now_ms: int
) -> dict[str, Any]:
    """Store the Observation as the actor's and return it as stored.

    Raises:
        AccessDenied: its data category is not one the consent lets the actor write.
    """
    stored = {key: value for key, value in resource.items() if key not in ("id", "meta")}
    stored["id"] = secrets.token_hex(16)
    stored["subject"] = {"reference": f"Patient/{write.person_id}"}
    return write.add_resource(stored, provenance="actor", organisation=actor_name, now_ms=now_ms)
