"""The purposes an actor may declare, coded so a receipt or a FHIR Consent can carry them.

Healthcare purposes come from HL7 v3 ActReason (the PurposeOfUse codes FHIR uses in
`Consent.provision.purpose`); purposes outside healthcare (an app, a coach, research by a
company) from the W3C Data Privacy Vocabulary. The key is what `healthpod actor add --purpose`
takes and what a consent row stores.
"""

from __future__ import annotations

from healthpod.consent.model import Purpose
from healthpod.errors import InvalidRequest

HL7_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
DPV = "https://w3id.org/dpv#"


def _hl7(code: str, display: str) -> Purpose:
    return Purpose(HL7_ACT_REASON, code, display)


def _dpv(code: str, display: str) -> Purpose:
    return Purpose(DPV, code, display)


PURPOSES: dict[str, Purpose] = {
    "TREAT": _hl7("TREAT", "Treatment"),
    "ETREAT": _hl7("ETREAT", "Emergency treatment"),
    "CAREMGT": _hl7("CAREMGT", "Care management"),
    "COC": _hl7("COC", "Coordination of care"),
    "PATRQT": _hl7("PATRQT", "Requested by the person"),
    "HRESCH": _hl7("HRESCH", "Healthcare research"),
    "CLINTRCH": _hl7("CLINTRCH", "Clinical trial research"),
    "PUBHLTH": _hl7("PUBHLTH", "Public health"),
    "HOPERAT": _hl7("HOPERAT", "Healthcare operations"),
    "dpv:ServiceProvision": _dpv("ServiceProvision", "Providing the service you use"),
    "dpv:ServicePersonalisation": _dpv("ServicePersonalisation", "Personalising the service"),
    "dpv:AcademicResearch": _dpv("AcademicResearch", "Academic research"),
    "dpv:CommercialResearch": _dpv("CommercialResearch", "Commercial research"),
    "dpv:ResearchAndDevelopment": _dpv("ResearchAndDevelopment", "Research and development"),
}


def parse_purpose(key: str) -> Purpose:
    """The coded purpose for a key such as `TREAT` or `dpv:ServiceProvision`.

    Raises:
        InvalidRequest: the key is not one we know; the message lists the known ones.
    """
    found = PURPOSES.get(key) or PURPOSES.get(key.upper())
    if found is None:
        raise InvalidRequest(
            f"Unknown purpose {key!r}.",
            hint="Use one of: " + ", ".join(PURPOSES) + ".",
        )
    return found


def purpose_key(purpose: Purpose) -> str:
    return purpose.code if purpose.system == HL7_ACT_REASON else f"dpv:{purpose.code}"


def describe(key: str) -> Purpose:
    """The coded purpose of a stored key; an unknown key (from a newer version) stays readable."""
    return PURPOSES.get(key) or Purpose("urn:healthpod:purpose", key, key)
