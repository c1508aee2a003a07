"""Consent receipts: the record the person keeps of each grant, change and revocation.

The fields are those of the Kantara Initiative Consent Receipt Specification v1.1 (version,
jurisdiction, consentTimestamp, collectionMethod, consentReceiptID, language, piiPrincipalId,
piiControllers, policyUrl, services with purposes and PII categories, sensitive, spiCat), plus a
`consentRecord` section with what ISO/IEC TS 27560 adds to a consent record: the event and the
state it leaves, the validity, the actions, the data window and granularity, and the coded
purpose. One receipt per version of a consent; its id is derived from the consent and version,
so the same receipt comes back every time it is asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from healthpod.consent.actors import Actor
from healthpod.consent.model import Consent, ConsentState, Granularity
from healthpod.consent.purpose import describe
from healthpod.consent.store import ConsentChange

KANTARA_VERSION = "KI-CR-v1.1.0"
_NAMESPACE = uuid.UUID("5f0c3a4e-9d0b-4b8e-9a57-3c1e0b7d6a21")

CATEGORY_NAMES: dict[str, str] = {
    "identity": "Identity (name, birth date, sex, identifiers, contact details)",
    "activity": "Activity (steps, distance, energy, exercise)",
    "heart": "Heart (heart rate, resting heart rate, variability)",
    "sleep": "Sleep",
    "body": "Body measurements (weight, height, body fat, temperature)",
    "blood-pressure": "Blood pressure",
    "blood-glucose": "Blood glucose",
    "respiratory": "Breathing (respiratory rate, oxygen saturation)",
    "nutrition": "Nutrition",
    "mindfulness": "Mindfulness",
    "other": "Other measurements",
    "lab-results": "Lab results",
    "conditions": "Conditions and diagnoses",
    "medications": "Medications",
    "immunizations": "Immunizations",
    "allergies": "Allergies and intolerances",
    "procedures": "Procedures",
    "encounters": "Visits and encounters",
    "documents": "Documents and summaries",
    "questionnaires": "Questionnaires",
    "other-records": "Other records from healthcare",
}

# What a study's answers may be grouped by that is read inside the pod from the person's own
# record (research.grouping.TRAITS), though the study never gets the identity category.
TRAIT_NAMES: dict[str, str] = {
    "age-band": "age band (ten years, such as 30-39, from your birth date)",
    "sex": "sex",
}


def grouping_text(traits: Sequence[str]) -> str:
    """The plain words a study consent says about grouping by `traits` ("" without any)."""
    if not traits:
        return ""
    names = " or ".join(f"your {TRAIT_NAMES.get(t, t)}" for t in traits)
    return (
        f"Answers to this study may be given per group of people: by {names}. Your pod works "
        "out your group from what is stored in it; only the group's name (such as 30-39 or "
        "female), with an answer about the whole group, leaves the pod. The study is never "
        "given your name, birth date, sex or anything else of your identity."
    )


def grouping_summary(traits: Sequence[str]) -> str:
    """The same in the few words of a consent's summary ("" without any traits)."""
    if not traits:
        return ""
    names = " or ".join(t.replace("-", " ") for t in traits)
    return (
        f"answers may be grouped by {names}, worked out inside the pod; "
        "only the group's name leaves it"
    )


STATE_WORDS = {
    ConsentState.ACTIVE: "given",
    ConsentState.PENDING: "given (not yet in effect)",
    ConsentState.EXPIRED: "expired",
    ConsentState.REVOKED: "withdrawn",
}


def receipt_id(base_url: str, consent_id: int, version: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{base_url}/consents/{consent_id}/v{version}"))


def build_receipt(
    change: ConsentChange,
    actor: Actor,
    *,
    base_url: str,
    language: str = "en",
    jurisdiction: str = "EU",
    restricted: tuple[int, int] | None = None,
    grouping: Sequence[str] = (),
) -> dict[str, Any]:
    """The receipt of one version of a consent, as JSON. `restricted` is how many (types,
    records) the person marks "only me" now: the receipt says they exist, never what.
    `grouping`: the traits a study consent's answers may be grouped by (none for a consent of
    no study), named in the record without widening its data categories."""
    consent = change.consent
    purpose = describe(consent.purpose)
    state = consent.state_at(change.at_ms)
    receipt: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": jurisdiction,
        "consentTimestamp": change.at_ms // 1000,
        "collectionMethod": (
            "Explicit opt-in by the person on the authorization page of their healthpod "
            "(SMART on FHIR), after login"
            if change.change == "granted"
            else f"Consent {change.change} by the person in their healthpod"
        ),
        "consentReceiptID": receipt_id(base_url, consent.id, change.version),
        "language": language,
        "piiPrincipalId": f"{base_url}/fhir/Patient/{consent.person_id}",
        "piiControllers": [
            {
                "piiController": actor.name,
                "contact": actor.name,
                "address": {},
                "email": "",
                "phone": "",
                "piiControllerUrl": _origin(actor),
            }
        ],
        "policyUrl": f"{base_url}/consents/{consent.id}",
        "services": [
            {
                "service": f"{actor.name} ({actor.kind.value})",
                "purposes": [
                    {
                        "purpose": purpose.display,
                        "purposeCategory": [f"{purpose.system}#{purpose.code}"],
                        "consentType": "EXPLICIT",
                        "piiCategory": [
                            CATEGORY_NAMES.get(c, c) for c in sorted(consent.categories)
                        ],
                        "primaryPurpose": True,
                        "termination": _termination(consent),
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "sensitive": True,
        "spiCat": ["Health data (GDPR Art. 9)"],
        "consentRecord": {
            "recordId": f"{base_url}/consents/{consent.id}",
            "recordVersion": change.version,
            "event": change.change,
            "eventTime": iso(change.at_ms),
            "state": STATE_WORDS[state],
            "dataSubject": f"Patient/{consent.person_id}",
            "recipient": {
                "clientId": actor.client_id,
                "name": actor.name,
                "kind": actor.kind.value,
            },
            "purpose": {"system": purpose.system, "code": purpose.code, "display": purpose.display},
            "dataCategories": sorted(consent.categories),
            "actions": sorted(a.value for a in consent.actions),
            "granularity": consent.granularity.value,
            "granularityText": (
                "daily summaries only"
                if consent.granularity is Granularity.DAILY
                else "every measurement (raw samples)"
            ),
            "dataPeriod": {"start": iso(consent.data_from_ms), "end": iso(consent.data_to_ms)},
            "validFrom": iso(consent.valid_from_ms),
            "validUntil": iso(consent.valid_until_ms),
            "withdrawnAt": iso(consent.revoked_ms),
            "withdrawal": f"{base_url}/consents/{consent.id}",
            "onlyMe": _only_me(restricted),
        },
    }
    if grouping:
        receipt["consentRecord"]["grouping"] = {
            "by": list(grouping),
            "text": grouping_text(grouping),
            "leavesThePod": "only the name of the group, with an answer about the whole group",
        }
    return receipt


def _only_me(restricted: tuple[int, int] | None) -> dict[str, Any]:
    text = "Whatever this consent covers, data you mark 'only me' is never shared."
    if restricted is None:
        return {"text": text}
    types, records = restricted
    return {
        "text": f"{text} Now: {types} types and {records} records you marked 'only me' "
        "are never shared.",
        "types": types,
        "records": records,
    }


def _termination(consent: Consent) -> str:
    if consent.valid_until_ms is None:
        return "When the person revokes it"
    return f"{iso(consent.valid_until_ms)}, or earlier when the person revokes it"


def _origin(actor: Actor) -> str:
    for uri in actor.redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return ""


def iso(ms: int | None) -> str | None:
    """An instant as ISO 8601 in UTC with a Z (FHIR instant style), or None."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
