"""The first steps of every FHIR request: who calls, what their token reaches, what consent allows.

    access = check(request, action=Action.READ, resource_type="Observation", event="fhir.search")
    with access.data.reader() as read:
        rows = read.samples(found, after=None, limit=100)
    returned(request, access, resources)         # what left the pod, after the decision entry

`check` authenticates the caller, refuses what the token's scopes do not cover, and opens the
door to the person's data: for an actor through `consent.access.open_for_actor` (the consent
decision, with the token's scopes as the most it may reach, and the committed access-log
entry, allowed or denied, before anything is read), for the person's own token through
`store.person_data.for_owner` (the person's own access is not decided or logged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from healthpod.consent import access as consent_access
from healthpod.consent import audit
from healthpod.consent.model import IDENTITY, AccessRequest, Action, Reach
from healthpod.errors import AccessDenied
from healthpod.oauth.bearer import Caller, authenticate
from healthpod.oauth.scopes import ScopeSet
from healthpod.pod import Pod
from healthpod.store import person_data
from healthpod.store.person_data import PersonData


@dataclass(frozen=True, slots=True)
class Access:
    caller: Caller
    data: PersonData
    now_ms: int

    @property
    def person_id(self) -> int:
        return self.caller.person_id

    @property
    def patient_id(self) -> str:
        return str(self.caller.person_id)

    @property
    def reason(self) -> str:
        return self.data.accessor.reason


def pod_of(request: Request) -> Pod:
    pod: Pod = request.app.state.pod
    return pod


def now_ms(pod: Pod) -> int:
    return int(pod.now().timestamp() * 1000)


def reach_of(scopes: ScopeSet, action: Action) -> Reach:
    """What a token's SMART scopes reach, as consent categories and Observation categories."""
    permission = "r" if action is Action.READ else "c"
    return Reach(
        categories=frozenset(c.value for c in scopes.categories(permission)),
        actions=frozenset({action}),
        observation_categories=scopes.observation_filter(permission),
    )


def check(
    request: Request,
    *,
    action: Action,
    resource_type: str | None,
    event: str,
    details: Mapping[str, Any] | None = None,
) -> Access:
    """Authenticate, cap by the token's scopes, decide by consent and log; open the door.

    `resource_type` None asks for whatever the token reads (a Bulk export's manifest).

    Raises:
        Unauthorized: no valid token.
        AccessDenied: the token's scopes do not reach this resource type, or no consent allows
            the request (revoked, expired, disabled actor, wrong consent); logged as denied.
    """
    pod = pod_of(request)
    now = now_ms(pod)
    caller = authenticate(request, pod.reads, now_ms=now)
    if caller.is_person:
        return Access(caller, person_data.for_owner(pod.engine, pod.reads, caller.person_id), now)
    assert caller.scopes is not None and caller.actor_id is not None
    permission = "r" if action is Action.READ else "c"
    info = {**(details or {}), "resource_type": resource_type}
    refused = None
    if resource_type is not None and not caller.scopes.allows(resource_type, permission):
        refused = f"the token's scopes do not cover {action.value} of {resource_type}"
    reach = reach_of(caller.scopes, action)
    # The Patient is shown under any active consent: as its id alone unless the scope
    # holds identity. Everything else asks for the categories the token reaches.
    wanted = frozenset() if resource_type == "Patient" else reach.categories - {IDENTITY}
    asked = AccessRequest(
        caller.person_id,
        caller.actor_id,
        action,
        categories=wanted,
        resource_type=resource_type,
        consent_id=caller.consent_id,
        reach=reach,
    )
    try:
        data = consent_access.open_for_actor(
            pod.engine, pod.reads, asked, event=event, details=info, now_ms=now, refused=refused
        )
    except AccessDenied:
        if refused is None:
            raise
        raise AccessDenied(
            f"This token's scopes do not allow {action.value} of {resource_type}.",
            hint=f"Ask for a scope such as patient/{resource_type}.rs when you authorize.",
        ) from None
    return Access(caller, data, now)


def returned(
    request: Request,
    access: Access,
    resources: Iterable[Mapping[str, Any] | Any] | audit.Returned,
) -> None:
    """Log what an actor's request returned, after its decision entry: one call per handler.

    `resources` are FHIR resources (dicts), pre-rendered ones (with `resource_type` and `id`)
    or the ids a stream sent; the person's own reads are not logged.
    """
    accessor = access.data.accessor
    if accessor.decision is None or accessor.asked is None:
        return
    sent = resources
    if not isinstance(sent, audit.Returned):
        sent = audit.Returned(
            [
                f"{r['resourceType']}/{r['id']}"
                if isinstance(r, Mapping)
                else f"{r.resource_type}/{r.id}"
                for r in resources  # type: ignore[union-attr]
            ]
        )
    pod = pod_of(request)
    consent_access.record_returned(
        pod.engine, accessor.decision, accessor.asked, sent, now_ms=now_ms(pod)
    )
