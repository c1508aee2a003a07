"""Access-log entries as FHIR R4 `AuditEvent` resources, for the person to read with FHIR tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from healthpod.consent.actors import Actor, ActorKind
from healthpod.consent.audit import LogEntry
from healthpod.consent.fhir_consent import CLIENT_ID_SYSTEM
from healthpod.consent.receipt import iso

EVENT_SYSTEM = "urn:healthpod:access-log-event"
_OUTCOMES = {"allowed": "0", "ok": "0", "denied": "4", "failed": "4"}
_ACTIONS = {"read": "R", "write": "C"}


def audit_event(
    entry: LogEntry, actors_by_id: Mapping[int, Actor], *, base_url: str
) -> dict[str, Any]:
    """The AuditEvent of one log entry (`actors_by_id` names the actor, if it still exists)."""
    who: dict[str, Any]
    if entry.actor_id is None:
        who = {"reference": f"Patient/{entry.person_id}"}
    elif (actor := actors_by_id.get(entry.actor_id)) is not None:
        who = {
            "identifier": {"system": CLIENT_ID_SYSTEM, "value": actor.client_id},
            "display": f"{actor.name} ({actor.kind.value})",
        }
    else:
        who = {"display": f"actor {entry.actor_id}"}
    entities: list[dict[str, Any]] = [{"what": {"reference": f"Patient/{entry.person_id}"}}]
    if entry.consent_id is not None:
        entities.append({"what": {"reference": f"Consent/{entry.consent_id}"}})
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
        "agent": [{"who": who, "requestor": True, "type": _agent_type(entry, actors_by_id)}],
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


def _agent_type(entry: LogEntry, actors_by_id: Mapping[int, Actor]) -> dict[str, Any]:
    actor = None if entry.actor_id is None else actors_by_id.get(entry.actor_id)
    if entry.actor_id is None:
        code, display = "AUT", "author (originator)"  # the person, in their own pod
    elif actor is not None and actor.kind is ActorKind.CLINIC:
        code, display = "PRCP", "primary information recipient"
    else:
        code, display = "IRCP", "information recipient"
    return {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": code,
                "display": display,
            }
        ]
    }
