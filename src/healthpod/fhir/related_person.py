"""`RelatedPerson/delegate-<id>`: someone acting for the person, as FHIR names them.

A SMART app launched by a delegate (or guardian) gets `fhirUser` =
`RelatedPerson/delegate-<delegation id>`, and may read that resource: the delegate's account
name, the relationship (guardian, or delegate with the view or manage role), the period of the
delegation and the Patient it acts for. Who may read it: the token of an app that delegate
launched (its `fhirUser`, while the delegation is live) and the person themselves (their own
session). Everyone else, another delegate's app or an app the person launched included, gets a
404, decided and logged like any read (or a 403 when its scopes reach no RelatedPerson).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from healthpod.consent import delegates
from healthpod.consent.model import Action
from healthpod.errors import NotFound
from healthpod.fhir import render
from healthpod.fhir.access import check, pod_of, returned
from healthpod.fhir.outcome import FhirResponse, FhirRoute

router = APIRouter(
    prefix="/fhir", route_class=FhirRoute, tags=["fhir"], default_response_class=FhirResponse
)
_ID = re.compile(r"delegate-([1-9][0-9]{0,9})")
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
DELEGATION_ROLE = "https://healthpod.dev/fhir/CodeSystem/delegation-role"


@router.get("/RelatedPerson/{related_id}")
def read_related_person(request: Request, related_id: str) -> FhirResponse:
    """A delegation as a RelatedPerson, for the delegate's own app and for the person."""
    path = f"RelatedPerson/{related_id[:100]}"
    access = check(
        request,
        action=Action.READ,
        resource_type="RelatedPerson",
        event="fhir.read",
        details={"path": path},
        fhir_user=path,
    )
    pod = pod_of(request)
    match = _ID.fullmatch(related_id)
    view = None
    if match is not None:
        with pod.reads.connect() as conn:
            view = delegates.given(
                conn,
                access.person_id,
                int(match[1]),
                now_ms=access.now_ms,
                age_limit=pod.settings.guardian_age_limit,
            )
    caller = access.caller
    allowed = view is not None and (caller.is_person or (caller.fhir_user == path and view.live))
    if view is None or not allowed:
        returned(request, access, [])
        raise NotFound(f"{path} is not known here.")
    resource = related_person(view, related_id)
    returned(request, access, [resource])
    return FhirResponse(resource)


def related_person(view: delegates.DelegationView, related_id: str) -> dict[str, Any]:
    """The FHIR RelatedPerson of a delegation the person gave."""
    delegation = view.delegation
    guardian = delegation.kind == "guardian"
    relationship: list[dict[str, Any]] = [
        {
            "coding": [{"system": DELEGATION_ROLE, "code": delegation.role}],
            "text": f"{'guardian' if guardian else 'delegate'} ({delegation.role})",
        }
    ]
    if guardian:
        relationship[0]["coding"].insert(
            0, {"system": ROLE_CODE, "code": "GUARD", "display": "guardian"}
        )
    ends = [t for t in (view.ends_ms, delegation.revoked_ms) if t is not None]
    period = {"start": render.instant(delegation.created_ms)}
    if ends:
        period["end"] = render.instant(min(ends))
    return {
        "resourceType": "RelatedPerson",
        "id": related_id,
        "meta": {"versionId": "1"},
        "active": view.live,
        "patient": {"reference": f"Patient/{delegation.person_id}"},
        "relationship": relationship,
        "name": [{"text": view.other.shown_name}],
        "period": period,
    }
