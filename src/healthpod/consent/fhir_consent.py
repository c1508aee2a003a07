"""A consent as a FHIR R4 `Consent` resource (privacy consent, opt-in, one permit provision).

A consent that joined a research study is a research consent (`scope` research) whose
`provision.purpose` carries, after the purpose (healthcare research), the study's GA4GH Data
Use Ontology codings (`http://purl.obolibrary.org/obo/duo.owl`, codes such as DUO:0000006),
and for a disease-specific study the disease's MONDO coding. The caller looks them up
(`research.studies.data_use`) and passes them in, with the traits of the person (age band,
sex) the study's answers may be grouped by (`research.studies.grouping`): each is an
extension and a sentence of the narrative, never a data category of the provision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from healthpod.consent.actors import Actor
from healthpod.consent.model import Action, Consent, ConsentState
from healthpod.consent.purpose import describe
from healthpod.consent.receipt import CATEGORY_NAMES, grouping_text, iso

CATEGORY_SYSTEM = "urn:healthpod:data-category"
GRANULARITY_EXTENSION = "urn:healthpod:fhir:StructureDefinition:granularity"
# A study consent: a trait of the person its answers may be grouped by, worked out in the pod.
GROUPING_EXTENSION = "urn:healthpod:fhir:StructureDefinition:grouped-by"
CLIENT_ID_SYSTEM = "urn:healthpod:client-id"

_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
_PRIVACY_SCOPE = {"system": _CONSENT_SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}
_RESEARCH_SCOPE = {"system": _CONSENT_SCOPE, "code": "research", "display": "Research"}

_ACTIONS = {
    Action.READ: ("access", "Access"),
    Action.WRITE: ("correct", "Access and Correct"),
}


def consent_resource(
    consent: Consent,
    actor: Actor,
    *,
    now_ms: int,
    data_use: Sequence[Mapping[str, str]] = (),
    grouping: Sequence[str] = (),
) -> dict[str, Any]:
    """The FHIR R4 Consent for `consent`, its status as of `now_ms`; `data_use`: the DUO
    codings of the study it joined (a research consent), or none; `grouping`: the traits
    that study's answers may be grouped by (an extension each, and said in the narrative; the
    provision's data categories stay the consent's own)."""
    state = consent.state_at(now_ms)
    purpose = describe(consent.purpose)
    provision: dict[str, Any] = {
        "type": "permit",
        "period": _period(consent.valid_from_ms, consent.valid_until_ms),
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {
                    "identifier": {"system": CLIENT_ID_SYSTEM, "value": actor.client_id},
                    "display": actor.name,
                },
            }
        ],
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": _ACTIONS[action][0],
                        "display": _ACTIONS[action][1],
                    }
                ]
            }
            for action in sorted(consent.actions)
        ],
        "purpose": [
            {"system": purpose.system, "code": purpose.code, "display": purpose.display},
            *(dict(coding) for coding in data_use),
        ],
        "code": [
            {
                "coding": [
                    {"system": CATEGORY_SYSTEM, "code": c, "display": CATEGORY_NAMES.get(c, c)}
                ]
            }
            for c in sorted(consent.categories)
        ],
    }
    if consent.data_from_ms is not None or consent.data_to_ms is not None:
        provision["dataPeriod"] = _period(consent.data_from_ms, consent.data_to_ms)
    return {
        "resourceType": "Consent",
        "id": str(consent.id),
        "meta": {"versionId": str(consent.version), "lastUpdated": iso(consent.updated_ms)},
        "extension": [
            {
                "url": GRANULARITY_EXTENSION,
                "valueCode": consent.granularity.value,
            },
            *({"url": GROUPING_EXTENSION, "valueCode": trait} for trait in grouping),
        ],
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
            f"{_narrative(consent, actor, data_use, grouping)}</div>",
        },
        "status": "active" if state in (ConsentState.ACTIVE, ConsentState.PENDING) else "inactive",
        "scope": {"coding": [_RESEARCH_SCOPE if data_use else _PRIVACY_SCOPE]},
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
                ]
            }
        ],
        "patient": {"reference": f"Patient/{consent.person_id}"},
        "dateTime": iso(consent.created_ms),
        "performer": [{"reference": f"Patient/{consent.person_id}"}],
        "policyRule": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "OPTIN",
                    "display": "opt-in",
                }
            ]
        },
        "provision": provision,
    }


def _period(start_ms: int | None, end_ms: int | None) -> dict[str, str]:
    period = {}
    if start_ms is not None:
        period["start"] = iso(start_ms) or ""
    if end_ms is not None:
        period["end"] = iso(end_ms) or ""
    return period


def _narrative(
    consent: Consent,
    actor: Actor,
    data_use: Sequence[Mapping[str, str]],
    grouping: Sequence[str],
) -> str:
    text = f"{actor.name} ({actor.kind.value}): {consent.summary()}."
    if data_use:
        text += " Data use: " + "; ".join(c["display"] for c in data_use) + "."
    if grouping:
        text += " " + grouping_text(grouping)
    return escape(text)
