"""The person's own notes: a symptom (FHIR Condition) or a note, also to a value (FHIR
Observation), written by the person with themselves as the author.

Stored as records with provenance "person" through the person's own writer, they are shared
like any record of their category: a symptom under "conditions", a note under "other records"
(whatever value it is about). What the person marks "only me" or wrong applies to them too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from healthpod.errors import InvalidRequest
from healthpod.store.person_data import Writer

MAX_TEXT = 2000
KINDS = ("note", "symptom")
ANNOTATION = {"system": "http://loinc.org", "code": "48767-8", "display": "Annotation comment"}
PROBLEM = {
    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
    "code": "problem-list-item",
}


def _when(value: str | None, now_ms: int) -> str:
    """An ISO date-time with its offset (a time without one is taken as UTC).

    Raises:
        InvalidRequest: not a date or date-time.
    """
    if not value:
        return datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="seconds")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(
            f"{value!r} is not a date or a time.",
            hint="Write 2024-05-03 or 2024-05-03T14:00+02:00.",
        ) from None
    if len(value.strip()) <= 10:
        return moment.date().isoformat()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def add(
    write: Writer,
    text: str,
    *,
    kind: str = "note",
    about: str | None = None,
    when: str | None = None,
    now_ms: int,
) -> dict[str, Any]:
    """Store the person's note and return it as stored (FHIR JSON).

    Raises:
        InvalidRequest: no text, too long, an unknown kind, a bad date, or `about` not an id
            of the person's data.
        NotFound: `about` names nothing in the person's pod.
    """
    text = text.strip()
    if not text:
        raise InvalidRequest("A note needs some text.", hint="Write what you noticed.")
    if len(text) > MAX_TEXT:
        raise InvalidRequest(
            f"The note is {len(text)} characters long; at most {MAX_TEXT} are kept.",
            hint="Say it more briefly, or write two notes.",
        )
    if kind not in KINDS:
        raise InvalidRequest(f"{kind!r} is not a kind of note.", hint="Use note or symptom.")
    me = {"reference": f"Patient/{write.person_id}"}
    moment = _when(when, now_ms)
    recorded = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="seconds")
    resource: dict[str, Any]
    if kind == "symptom":
        resource = {
            "resourceType": "Condition",
            "id": f"note-{uuid.uuid4().hex[:20]}",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "category": [{"coding": [PROBLEM], "text": "Symptom noted by the person"}],
            "code": {"text": text},
            "subject": me,
            "onsetDateTime": moment,
            "recordedDate": recorded,
            "recorder": me,
            "asserter": me,
        }
    else:
        resource = {
            "resourceType": "Observation",
            "id": f"note-{uuid.uuid4().hex[:20]}",
            "status": "final",
            "code": {"coding": [ANNOTATION], "text": "Note"},
            "subject": me,
            "effectiveDateTime": moment,
            "issued": recorded,
            "performer": [me],
            "valueString": text,
        }
        if about:
            resource["focus"] = [{"reference": _about(write, about)}]
    return write.add_resource(resource, provenance="person", organisation="", now_ms=now_ms)


def _about(write: Writer, target: str) -> str:
    """The reference of the value a note is about, checked to be the person's.

    Raises:
        InvalidRequest: not an id of ours.
        NotFound: not in the person's pod.
    """
    write.check_item(target)
    return target if "/" in target else f"Observation/{target}"
