"""The CapabilityStatement at /fhir/metadata: what we really support, and where to log in.

It carries the SMART `oauth-uris` extension because fhirclient (Python) finds the authorize
and token endpoints only there; it never reads .well-known/smart-configuration.
"""

from __future__ import annotations

from typing import Any

from healthpod import __version__
from healthpod.fhir.search import OBSERVATION_INCLUDES, OBSERVATION_PARAMS, RESOURCE_PARAMS

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SMART_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
RELEASED = "2026-11-27"

_PARAM_TYPES = {
    "patient": "reference",
    "subject": "reference",
    "code": "token",
    "category": "token",
    "date": "date",
    "_lastUpdated": "date",
    "_id": "token",
}


def _params(names: frozenset[str]) -> list[dict[str, str]]:
    return [
        {"name": name, "type": _PARAM_TYPES[name]} for name in sorted(names) if name in _PARAM_TYPES
    ]


def capability_statement(
    base: str, clinical_types: list[str], *, cors: bool = False
) -> dict[str, Any]:
    """`base` is the public base URL of the server (without /fhir); `cors` whether browser
    apps of some origins are allowed (HEALTHPOD_CORS_ORIGINS)."""
    fhir = f"{base}/fhir"
    resources: list[dict[str, Any]] = [
        {
            "type": "Patient",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": _params(frozenset({"_id"})),
            "operation": [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                },
                {
                    "name": "export",
                    "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
                },
            ],
        },
        {
            "type": "Observation",
            "supportedProfile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"],
            "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
            "searchParam": _params(OBSERVATION_PARAMS),
            "searchInclude": list(OBSERVATION_INCLUDES),
        },
        {
            # Someone acting for the person (a delegate or guardian), as a SMART app launched
            # by them names them in `fhirUser`: readable by that app's token and the person.
            "type": "RelatedPerson",
            "interaction": [{"code": "read"}],
            "documentation": "RelatedPerson/delegate-<id>: a delegation, readable by the token "
            "of an app the delegate launched (its fhirUser) and by the person.",
        },
    ]
    for resource_type in clinical_types:
        resources.append(
            {
                "type": resource_type,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": _params(RESOURCE_PARAMS),
            }
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "healthpod",
        "kind": "instance",
        "software": {"name": "healthpod", "version": __version__},
        "implementation": {"description": "A personal health data pod", "url": fhir},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every request is checked against the person's consents and "
                "logged. Search results contain only what the consent covers; totals are "
                "counted only over that. Paging follows Bundle.link next, unchanged.",
                "security": {
                    "cors": cors,
                    "service": [
                        {
                            "coding": [{"system": SMART_SERVICE, "code": "SMART-on-FHIR"}],
                            "text": "OAuth2 using SMART-on-FHIR profile",
                        }
                    ],
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": f"{base}/oauth/authorize"},
                                {"url": "token", "valueUri": f"{base}/oauth/token"},
                                {"url": "revoke", "valueUri": f"{base}/oauth/revoke"},
                                {"url": "introspect", "valueUri": f"{base}/oauth/introspect"},
                            ],
                        }
                    ],
                },
                "resource": resources,
                "searchParam": [
                    {"name": "_count", "type": "number"},
                    {"name": "_sort", "type": "string"},
                    {"name": "_summary", "type": "token"},
                    {"name": "_total", "type": "token"},
                ],
                "operation": [
                    {
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                    }
                ],
            }
        ],
    }
