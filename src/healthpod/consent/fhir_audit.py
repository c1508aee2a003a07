"""Access-log entries as FHIR R4 `AuditEvent` resources, for the person to read with FHIR tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from healthpod.consent.actors import Actor, ActorKind
from healthpod.consent.audit import LogEntry
from healthpod.consent.fhir_consent import CLIENT_ID_SYSTEM
from healthpod.consent.receipt import iso

EVENT_SYSTEM = "urn:healthpod:access-log-event"
LOG_ENTRY_SYSTEM = "urn:healthpod:access-log-seq"
_RESOURCE_ROLE = {
    "system": "http://terminology.hl7.org/CodeSystem/object-role",
    "code": "4",
    "display": "Domain Resource",
}
_OUTCOMES = {"allowed": "0", "ok": "0", "denied": "4", "failed": "4"}
_ACTIONS = {"read": "R", "write": "C"}


def audit_event(
    entry: LogEntry, actors_by_id: Mapping[int, Actor], *, base_url: str
) -> dict[str, Any]:
    """The AuditEvent of one log entry (`actors_by_id` names the actor, if it still exists).

    The requestor is the person for their own acts (a consent revoked: the actor it concerned
    is a second agent) and the actor otherwise. A `returned` entry lists what left the pod as
    entities (or, for many, their count and digest) and points at its decision entry.
    """
    agents = []
    if entry.by_person or entry.actor_id is None:
        agents.append(
            {
                "who": {"reference": f"Patient/{entry.person_id}"},
                "requestor": True,
                "type": _type("AUT", "author (originator)"),
            }
        )
    if entry.actor_id is not None:
        agents.append(
            {
                "who": _actor(entry.actor_id, actors_by_id),
                "requestor": not entry.by_person,
                "type": _agent_type(entry, actors_by_id),
            }
        )
    if entry.via:
        agents[-1]["altId"] = entry.via
    entities: list[dict[str, Any]] = [{"what": {"reference": f"Patient/{entry.person_id}"}}]
    if entry.consent_id is not None:
        entities.append({"what": {"reference": f"Consent/{entry.consent_id}"}})
    if entry.refers_to is not None:
        entities.extend(_returned(entry))
    elif isinstance(entry.details.get("returned"), Mapping):
        entities.extend(_sent(entry.details["returned"]))
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"log-{entry.id}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": EVENT_SYSTEM, "code": entry.event}],
        "action": _ACTIONS.get(str(entry.details.get("action", "")), "E"),
        "recorded": iso(entry.at_ms),
        "outcome": _OUTCOMES.get(entry.outcome, "4"),
        "agent": agents,
        "source": {"site": base_url, "observer": {"display": "healthpod"}},
        "entity": entities,
    }
    if entry.reason:
        event["outcomeDesc"] = entry.reason
    return event


def audit_bundle(
    entries: Sequence[LogEntry], actors_by_id: Mapping[int, Actor], *, base_url: str
) -> dict[str, Any]:
    """A searchset Bundle of the entries' AuditEvents."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {
                "fullUrl": f"{base_url}/fhir/AuditEvent/log-{e.id}",
                "resource": audit_event(e, actors_by_id, base_url=base_url),
            }
            for e in entries
        ],
    }


def _actor(actor_id: int, actors_by_id: Mapping[int, Actor]) -> dict[str, Any]:
    actor = actors_by_id.get(actor_id)
    if actor is None:
        return {"display": f"actor {actor_id}"}
    return {
        "identifier": {"system": CLIENT_ID_SYSTEM, "value": actor.client_id},
        "display": f"{actor.name} ({actor.kind.value})",
    }


def _returned(entry: LogEntry) -> list[dict[str, Any]]:
    """The decision a `returned` entry completes, and the resources (or their digest)."""
    decision: dict[str, Any] = {
        "what": {"identifier": {"system": LOG_ENTRY_SYSTEM, "value": str(entry.refers_to)}},
        "description": "the access decision this entry completes",
    }
    return _sent(entry.details, decision)


def _sent(sent: Mapping[str, Any], holder: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The resources a request returned as entities; for many, their count and digest as the
    details of `holder` (the decision it completes) or of an entity of their own."""
    found: list[dict[str, Any]] = [] if holder is None else [holder]
    ids = sent.get("ids")
    if isinstance(ids, list):
        found.extend({"what": {"reference": str(i)}, "role": _RESOURCE_ROLE} for i in ids)
        return found
    if holder is None:
        holder = {"description": "what the request returned"}
        found.append(holder)
    holder["detail"] = [
        {"type": "count", "valueString": str(sent.get("count", ""))},
        {"type": "ids_sha256", "valueString": str(sent.get("ids_sha256", ""))},
    ]
    return found


def _agent_type(entry: LogEntry, actors_by_id: Mapping[int, Actor]) -> dict[str, Any]:
    actor = None if entry.actor_id is None else actors_by_id.get(entry.actor_id)
    if actor is not None and actor.kind is ActorKind.CLINIC:
        return _type("PRCP", "primary information recipient")
    return _type("IRCP", "information recipient")


def _type(code: str, display: str) -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": code,
                "display": display,
            }
        ]
    }
