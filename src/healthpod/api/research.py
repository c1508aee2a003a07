"""The research API: a study's sponsor asks for differentially private answers.

    POST /research/studies/{id}/aggregates
        Authorization: Bearer <backend token of the study's sponsor, scope system/*.rs>
        {"type": "steps", "statistic": "mean", "bounds": [0, 30000], "epsilon": 0.5}
    → 200 the answer, the same document `healthpod study aggregate --json` prints

The sponsor authenticates as a SMART Backend Services client (client_credentials with a
signed JWT assertion, RFC 7523, at /oauth/token; `oauth/backend.py`). Every refusal is JSON
(`{"ok": false, "error", "hint", "code", "status"}`): 401 without a valid token, 403 for a
token without the read scope or of another actor than the study's sponsor, 404 for no such
study, 400 for a question that is wrong (type outside the study's categories, bounds, epsilon,
quantiles, bins), 409 for a study that is not open or past its end, a cohort under the minimum
or a budget that would be passed. A refusal about an existing study is written to each
participant's access log under the actor who asked; nothing is read and no budget is spent.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from healthpod import json_input
from healthpod.errors import AccessDenied, HealthpodError, InvalidRequest, NotFound
from healthpod.oauth import backend
from healthpod.pod import Pod
from healthpod.research import studies

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/research", tags=["research"])
MAX_BODY = 16_000


class AggregateIn(BaseModel):
    """One question for the study: a statistic of each participant's mean daily value."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=200, description="The type, e.g. steps.")
    statistic: str = Field(
        "mean", max_length=20, description="count, sum, mean, quantile or histogram."
    )
    bounds: list[float] | None = Field(
        None, description="[low, high]: each daily value is clamped to these.", max_length=2
    )
    epsilon: float = Field(description="The privacy budget this answer spends.")
    quantiles: list[float] | None = Field(
        None, description="With quantile: each between 0 and 1, e.g. [0.5].", max_length=20
    )
    bins: list[float] | None = Field(
        None, description="With histogram: the bin edges, in increasing order.", max_length=100
    )
    group_by: str | None = Field(
        None, max_length=20, description="month, age-band or sex: an answer per group."
    )


class NotLoggedIn(HealthpodError):
    status = 401
    code = "login"


def _unauthorized(exc: NotLoggedIn) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": exc.message, "hint": exc.hint, "code": exc.code, "status": 401},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="healthpod"'},
    )


def _caller(pod: Pod, request: Request, now_ms: int) -> int:
    """The actor id of the request's backend token, with a research scope.

    Raises:
        NotLoggedIn: no token, or an unknown or expired one, or its client is disabled.
        AccessDenied: the token's scope is not a research read scope.
    """
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise NotLoggedIn(
            "A study's answers need the sponsor's backend access token.",
            hint="Get one at /oauth/token with client_credentials, a signed JWT assertion "
            "and scope system/*.rs.",
        )
    try:
        with pod.engine.connect() as conn:
            token, actor = backend.find_token(conn, presented.strip(), now_ms=now_ms)
    except LookupError:
        raise NotLoggedIn(
            "The access token is unknown or expired, or its client is disabled.",
            hint="Get a new one at /oauth/token.",
        ) from None
    if not set(token.scope.split()) & backend.RESEARCH_SCOPES:
        raise AccessDenied(
            "The token's scope does not allow research answers.",
            hint="Ask /oauth/token for scope system/*.rs.",
        )
    return actor.id


def _question(body: bytes) -> AggregateIn:
    if len(body) > MAX_BODY:
        raise InvalidRequest("The question is too long.", hint="Send one small JSON object.")
    try:
        parsed = json_input.loads(body or b"{}")
    except json_input.BadJson as exc:
        raise InvalidRequest(
            f"The question is not usable JSON: {exc}.",
            hint='Send JSON such as {"type": "steps", "statistic": "mean", '
            '"bounds": [0, 30000], "epsilon": 0.5}.',
        ) from None
    try:
        return AggregateIn.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(
            f"The question's {where} is wrong: {first['msg']}.",
            hint='Send JSON such as {"type": "steps", "statistic": "mean", '
            '"bounds": [0, 30000], "epsilon": 0.5}.',
        ) from None


def _answer(pod: Pod, study_id: int, body: bytes, actor_id: int, now_ms: int) -> dict[str, Any]:
    from healthpod.research import aggregate  # OpenDP: loaded for research answers only

    with pod.reads.connect() as conn:
        study = studies.get(conn, study_id)
    if actor_id != study.actor_id:
        message = "This token's client is not the study's sponsor: it gets no answers."
        aggregate.refuse(pod.engine, pod.reads, study_id, message, actor_id=actor_id, now_ms=now_ms)
        logger.warning("research answer refused study=%d actor_id=%d", study_id, actor_id)
        raise AccessDenied(message, hint="Only the study's sponsor may ask for its answers.")
    try:
        question = _question(body)
    except InvalidRequest as exc:
        aggregate.refuse(
            pod.engine, pod.reads, study_id, exc.message, actor_id=actor_id, now_ms=now_ms
        )
        raise
    bounds = question.bounds
    answer = aggregate.release(
        pod.engine,
        pod.reads,
        study_id,
        type_code=question.type,
        statistic=question.statistic,
        bounds=(bounds[0], bounds[1]) if bounds is not None and len(bounds) == 2 else None,
        epsilon=question.epsilon,
        yearly_epsilon=pod.settings.research_yearly_epsilon,
        now_ms=now_ms,
        quantiles=question.quantiles,
        bins=question.bins,
        group_by=question.group_by,
    )
    logger.info("research answer released study=%d actor_id=%d", study_id, actor_id)
    return answer.document()


@router.post(
    "/studies/{study_id}/aggregates",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AggregateIn.model_json_schema()}},
        }
    },
    responses={
        400: {"description": "The question is wrong (type, bounds, epsilon, quantiles, bins)."},
        401: {"description": "No valid backend token."},
        403: {"description": "Not the study's sponsor, or no research scope."},
        404: {"description": "No such study."},
        409: {"description": "Study not open or ended, cohort too small, budget spent."},
    },
)
async def aggregates(request: Request, study_id: str) -> JSONResponse:
    """A differentially private answer (OpenDP) for the study's sponsor, charged to every
    participant who contributed: the value, the epsilon spent, the noise scale and a 95%
    interval where OpenDP states one."""
    pod: Pod = request.app.state.pod
    now = int(pod.now().timestamp() * 1000)
    try:
        actor_id = await run_in_threadpool(_caller, pod, request, now)
    except NotLoggedIn as exc:
        logger.warning("research answer without a valid token")
        return _unauthorized(exc)
    if not study_id.isdigit() or not 0 < int(study_id) < 2**31:
        raise NotFound(f"There is no study with id {study_id[:40]!r}.")
    body = await request.body()
    document = await run_in_threadpool(_answer, pod, int(study_id), body, actor_id, now)
    return JSONResponse(document)


def register(app: FastAPI) -> None:
    app.include_router(router)
