"""The first steps of every FHIR request: who calls, what their token reaches, what consent allows.

    access = check(request, action=Action.READ, resource_type="Observation", event="fhir.search")
    with access.data.reader() as read:
        rows = read.samples(found, after=None, limit=100)
    returned(request, access, resources)         # the decision and what it returned, logged

`check` authenticates the caller, refuses what the token's scopes do not cover, and opens the
door to the person's data: for an actor through `consent.access.decide_for_actor` (the consent
decision, with the token's scopes as the most it may reach; a refusal is logged at once), for
the person's own token through `store.person_data.for_owner` (the person's own access is not
decided or logged). An allowed request is logged as one entry, the decision with what it
returned, by `returned` before the answer leaves; `FhirRoute` writes any decision a handler
left unwritten (it failed, or sent nothing of the person's) before its answer is sent.
A write, and a streamed answer (`log_first=True`: a Bulk file), commit the decision before
anything is written or sent instead, and `returned` then adds a `returned` entry that refers
to it.
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
from healthpod.fhir.outcome import FhirRoute
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
    entry: consent_access.DecisionEntry | None = None  # written by `returned` or `FhirRoute`

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
    log_first: bool = False,
    fhir_user: str | None = None,
) -> Access:
    """Authenticate, cap by the token's scopes, decide by consent; open the door.

    `resource_type` None asks for whatever the token reads (a Bulk export's manifest).
    `log_first`: log an allowed decision (committed) now, before anything is read: for a
    streamed answer. A write (`Action.WRITE`) is always logged first.
    `fhir_user`: the resource read when it may be the caller's own `fhirUser` (a delegate's
    RelatedPerson): for the token that names it, its `fhirUser` scope is enough and no data
    category is asked, as for the Patient; for any other token nothing changes.

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
    own = fhir_user is not None and caller.fhir_user == fhir_user
    refused = None
    covered = resource_type is None or caller.scopes.allows(resource_type, permission)
    if not covered and not (own and "fhirUser" in caller.scopes.plain):
        refused = f"the token's scopes do not cover {action.value} of {resource_type}"
    reach = reach_of(caller.scopes, action)
    # The Patient is shown under any active consent: as its id alone unless the scope
    # holds identity; so is the caller's own fhirUser. Everything else asks for the
    # categories the token reaches.
    wanted = frozenset() if resource_type == "Patient" or own else reach.categories - {IDENTITY}
    asked = AccessRequest(
        caller.person_id,
        caller.actor_id,
        action,
        categories=wanted,
        resource_type=resource_type,
        consent_id=caller.consent_id,
        reach=reach,
    )
    entry = None
    try:
        if log_first or action is not Action.READ or not _logs_on_the_way_out(request):
            data = consent_access.open_for_actor(
                pod.engine, pod.reads, asked, event=event, details=info, now_ms=now, refused=refused
            )
        else:
            data, entry = consent_access.decide_for_actor(
                pod.engine, pod.reads, asked, event=event, details=info, now_ms=now, refused=refused
            )
            unwritten(request).append(entry)
    except AccessDenied:
        if refused is None:
            raise
        raise AccessDenied(
            f"This token's scopes do not allow {action.value} of {resource_type}.",
            hint=f"Ask for a scope such as patient/{resource_type}.rs when you authorize.",
        ) from None
    return Access(caller, data, now, entry)


_UNWRITTEN = "healthpod.unwritten_decisions"


def unwritten(request: Request) -> list[consent_access.DecisionEntry]:
    """The request's allowed decisions, for `FhirRoute` to write any left unwritten."""
    found: list[consent_access.DecisionEntry] = request.scope.setdefault(_UNWRITTEN, [])
    return found


def _logs_on_the_way_out(request: Request) -> bool:
    """Whether the route writes unwritten decisions before it answers (every FHIR route)."""
    return isinstance(request.scope.get("route"), FhirRoute)


def returned(
    request: Request,
    access: Access,
    resources: Iterable[Mapping[str, Any] | Any] | audit.Returned,
) -> None:
    """Log an actor's request with what it returned: one call per handler, after the read and
    before the answer is sent. One entry, the decision with what it returned; for a stream
    (`check(log_first=True)`), a `returned` entry after the committed decision.

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
    if access.entry is not None:
        access.entry.write(sent)
        return
    pod = pod_of(request)
    consent_access.record_returned(
        pod.engine, accessor.decision, accessor.asked, sent, now_ms=now_ms(pod)
    )
