"""The first steps of every FHIR request: who calls, what their token caps, what consent allows.

    access = check(request, action=Action.READ, resource_type="Observation", event="fhir.search")
    rows = observations.search_samples(conn, access.person_id, access.scope, ...)

`check` authenticates the caller, refuses what the token's scopes do not cover, asks the
consent engine (through `consent.access.authorize`, which commits the access-log entry, allowed
or denied, before anything is read) and returns the scope the store must apply. The person's
own session sees all of their own data and is not an access by someone else, so it is not
decided or logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from healthpod.consent import access as consent_access
from healthpod.consent import audit
from healthpod.consent.model import (
    ALL_CATEGORIES,
    AccessRequest,
    Action,
    Decision,
    Granularity,
    Scope,
)
from healthpod.errors import AccessDenied
from healthpod.oauth.bearer import Caller, authenticate
from healthpod.pod import Pod

PERSON_SCOPE = Scope(
    categories=ALL_CATEGORIES,
    granularity=Granularity.RAW,
    actions=frozenset({Action.READ, Action.WRITE}),
)


@dataclass(frozen=True, slots=True)
class Access:
    caller: Caller
    scope: Scope
    now_ms: int
    reason: str
    decision: Decision | None = None  # as logged, for `returned`; None for the person
    asked: AccessRequest | None = None

    @property
    def person_id(self) -> int:
        return self.caller.person_id

    @property
    def patient_id(self) -> str:
        return str(self.caller.person_id)


def pod_of(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


def now_ms(pod: Pod) -> int:
    return int(pod.now().timestamp() * 1000)


def check(
    request: Request,
    *,
    action: Action,
    resource_type: str,
    event: str,
    details: Mapping[str, Any] | None = None,
) -> Access:
    """Authenticate, cap by the token's scopes, decide by consent and log; return the scope.

    Raises:
        Unauthorized: no valid token.
        AccessDenied: the token's scopes do not reach this resource type, or no consent allows
            the request (revoked, expired, disabled actor, wrong consent); logged as denied.
    """
    pod = pod_of(request)
    now = now_ms(pod)
    caller = authenticate(request, pod.reads, now_ms=now)
    if caller.is_person:
        return Access(caller, PERSON_SCOPE, now, "the person's own access")
    assert caller.scopes is not None and caller.actor_id is not None
    permission = "r" if action is Action.READ else "c"
    info = {**(details or {}), "resource_type": resource_type}
    refused = None
    if not caller.scopes.allows(resource_type, permission):
        refused = f"the token's scopes do not cover {action.value} of {resource_type}"
    wanted = frozenset(c.value for c in caller.scopes.categories(permission))
    if resource_type == "Patient":
        wanted = frozenset()  # the person themselves: any active consent will do
    asked = AccessRequest(
        caller.person_id,
        caller.actor_id,
        action,
        categories=wanted,
        resource_type=resource_type,
        consent_id=caller.consent_id,
    )
    decision = consent_access.authorize(
        pod.engine, asked, event=event, details=info, now_ms=now, refused=refused
    )
    if refused is not None:
        raise AccessDenied(
            f"This token's scopes do not allow {action.value} of {resource_type}.",
            hint="Ask for a scope such as patient/" + resource_type + ".rs when you authorize.",
        )
    scope = decision.raise_if_denied()
    return Access(caller, scope, now, decision.reason, decision, asked)


def returned(
    request: Request,
    access: Access,
    resources: Iterable[Mapping[str, Any] | Any] | audit.Returned,
) -> None:
    """Log what an actor's request returned, after its decision entry: one call per handler.

    `resources` are FHIR resources (dicts), pre-rendered ones (with `resource_type` and `id`)
    or the ids a stream sent; the person's own reads are not logged.
    """
    if access.decision is None or access.asked is None:
        return
    sent = resources
    if not isinstance(sent, audit.Returned):
        sent = audit.Returned(
            f"{r['resourceType']}/{r['id']}"
            if isinstance(r, Mapping)
            else f"{r.resource_type}/{r.id}"
            for r in resources  # type: ignore[union-attr]
        )
    pod = pod_of(request)
    consent_access.record_returned(
        pod.engine, access.decision, access.asked, sent, now_ms=now_ms(pod)
    )
