"""The operator's view: research studies with their state, participants and budget spent;
create, open and close a study.

Only a login marked as the pod's operator (`healthpod account operator USERNAME`) sees it;
anyone else gets a 403 page, and the refusal is logged (ids only). Creating, opening and
closing call the same functions as `healthpod study create|open|close`
(`healthpod.research.studies`), so the rules are one: a refused study is a message on the
page, with the form as it was sent, and nothing stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from healthpod import accounts
from healthpod.consent import actors
from healthpod.consent.actors import ActorKind
from healthpod.errors import AccessDenied, HealthpodError, InvalidRequest
from healthpod.pod import now_ms
from healthpod.research import studies
from healthpod.store.studies import StudyRow
from healthpod.web import security, study_refusals
from healthpod.web.auth import WebPerson, pod_of, require_self
from healthpod.web.i18n import N_
from healthpod.web.render import gettext_for, render

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

STATES = {
    "draft": N_("Draft"),
    "open": N_("Open"),
    "closed": N_("Closed"),
    "ended": N_("Ended"),
}
FIELDS = (
    "title",
    "sponsor",
    "duo",
    "categories",
    "granularity",
    "data_from",
    "data_to",
    "min_cohort",
    "epsilon",
    "releases",
    "summary_en",
    "summary_sv",
    "ethics_ref",
    "end",
)


def require_operator(request: Request) -> WebPerson:
    """Dependency: the signed-in person, who must be the pod's operator.

    Raises:
        AccessDenied: they are not (a 403 page; the refusal is logged).
    """
    person = require_self(request)
    with pod_of(request).engine.connect() as conn:
        allowed = accounts.is_operator(conn, person.person_id)
    if not allowed:
        logger.warning(
            "operator page refused person_id=%d method=%s path=%s",
            person.person_id,
            request.method,
            request.url.path,
        )
        raise AccessDenied(
            N_("Only the pod's operator can see this page."),
            hint=N_("Ask the pod's operator if you need to run a study."),
        )
    return person


OperatorDep = Annotated[WebPerson, Depends(require_operator)]


@dataclass(frozen=True, slots=True)
class StudyLine:
    study: StudyRow
    state: str
    sponsor: str
    participants: int
    spent: float


def _page(
    request: Request,
    *,
    notice: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    now = now_ms()
    with pod_of(request).engine.connect() as conn:
        spent = studies.budget_spent(conn)
        lines = [
            StudyLine(
                study=s,
                state=studies.state_at(s, now),
                sponsor=actors.get_actor(conn, s.actor_id).name,
                participants=len(studies.participants(conn, s.id)),
                spent=spent.get(s.id, 0.0),
            )
            for s in studies.list_studies(conn)
        ]
        sponsors = [
            a for a in actors.list_actors(conn) if a.kind is ActorKind.RESEARCH and not a.disabled
        ]
    return render(
        request,
        "operator.html",
        {
            "studies": lines,
            "states": STATES,
            "sponsors": sponsors,
            "categories": sorted(studies.MEASURED),
            "notice": notice,
            "error": error,
            "form": form or {"granularity": "daily", "releases": "aggregates"},
        },
        status_code=status_code,
    )


@router.get("/operator")
def operator_page(request: Request, person: OperatorDep) -> Response:
    _ = gettext_for(request)
    notice = {
        "created": _("The study was created as a draft. Open it when people may join."),
        "opened": _("The study is open: people can join it."),
        "closed": _("The study is closed: nobody joins it and nothing more is released."),
    }.get(request.query_params.get("done") or "")
    return _page(request, notice=notice)


def _day(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"{label}: {text[:40]!r} is not a date.", hint="Give the day as YYYY-MM-DD."
        ) from None


def _number(text: str, label: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text.strip())
    except ValueError:
        raise InvalidRequest(f"{label}: {text[:40]!r} is not a number.") from None


@router.post("/operator/studies", dependencies=[Depends(security.verify_csrf)])
async def create_study(request: Request, person: OperatorDep) -> Response:
    sent = await request.form()
    form = {name: str(sent.get(name, ""))[:2000] for name in FIELDS}
    chosen = [str(c) for c in sent.getlist("category")]
    form["categories"] = ",".join(chosen)
    _ = gettext_for(request)
    try:
        plan = studies.StudyPlan(
            title=form["title"],
            sponsor=form["sponsor"],
            duo=form["duo"],
            categories=form["categories"],
            granularity=form["granularity"],
            data_from=_day(form["data_from"], "From"),
            data_to=_day(form["data_to"], "To"),
            min_cohort=int(_number(form["min_cohort"], "Minimum cohort", int)),
            epsilon=float(_number(form["epsilon"], "Privacy budget", float)),
            summary_en=form["summary_en"].strip() or None,
            summary_sv=form["summary_sv"].strip() or None,
            ethics_ref=form["ethics_ref"].strip() or None,
            end=_day(form["end"], "End") if form["end"].strip() else None,
            releases=form["releases"],
        )
        with pod_of(request).engine.begin() as conn:
            made = studies.create(conn, plan, now_ms=now_ms())
    except HealthpodError as refused:
        message = _("The study was not created: %(why)s", why=study_refusals.in_words(refused, _))
        return _page(request, error=message, form=form, status_code=refused.status)
    logger.info("study created study_id=%d by person_id=%d", made.id, person.person_id)
    return RedirectResponse("/operator?done=created", status_code=303)


def _change(request: Request, person: WebPerson, study_id: int, change: str) -> Response:
    _ = gettext_for(request)
    try:
        with pod_of(request).engine.begin() as conn:
            if change == "open":
                studies.open_study(conn, study_id, now_ms=now_ms())
            else:
                studies.close_study(conn, study_id, now_ms=now_ms())
    except HealthpodError as refused:
        message = _("Nothing was changed: %(why)s", why=study_refusals.in_words(refused, _))
        return _page(request, error=message, status_code=refused.status)
    logger.info("study %s study_id=%d by person_id=%d", change, study_id, person.person_id)
    done = "opened" if change == "open" else "closed"
    return RedirectResponse(f"/operator?done={done}", status_code=303)


@router.post("/operator/studies/{study_id}/open", dependencies=[Depends(security.verify_csrf)])
def open_study(request: Request, study_id: security.RowId, person: OperatorDep) -> Response:
    return _change(request, person, study_id, "open")


@router.post("/operator/studies/{study_id}/close", dependencies=[Depends(security.verify_csrf)])
def close_study(request: Request, study_id: security.RowId, person: OperatorDep) -> Response:
    return _change(request, person, study_id, "close")
