"""Research: open studies in plain words, joining with one consent, leaving, and the opt-out.

Only the person themself decides here (a delegate does not join studies for them). Joining
grants one consent for the study's sponsor, with its receipt and FHIR view like any other;
leaving revokes it; the EHDS opt-out (Art. 71) leaves every study and refuses every join.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from healthpod import accounts
from healthpod.consent import actors
from healthpod.errors import HealthpodError
from healthpod.pod import now_ms
from healthpod.research import duo, studies
from healthpod.store.studies import Participation, StudyRow
from healthpod.web import security
from healthpod.web.auth import SelfDep, pod_of
from healthpod.web.render import gettext_for, language, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class StudyView:
    study: StudyRow
    sponsor: str
    summary: str | None
    uses: list[str]
    joined: Participation | None


def _page(
    request: Request, person: SelfDep, *, notice: str | None = None, status_code: int = 200
) -> Response:
    _ = gettext_for(request)
    lang = language(request)
    now = now_ms()
    with pod_of(request).engine.connect() as conn:
        mine = {p.study_id: p for p in studies.participations(conn, person.person_id)}
        current = {sid: p for sid, p in mine.items() if p.left_ms is None}
        views = []
        for study in studies.list_studies(conn):
            if studies.state_at(study, now) != "open" and study.id not in current:
                continue
            views.append(
                StudyView(
                    study=study,
                    sponsor=actors.get_actor(conn, study.actor_id).name,
                    summary=(study.summary_sv if lang == "sv" else study.summary_en)
                    or study.summary_en
                    or study.summary_sv,
                    uses=[duo.describe(c, lang=lang) for c in study.duo],
                    joined=current.get(study.id),
                )
            )
        opted_out = studies.opted_out(conn, person.person_id)
        operator = accounts.is_operator(conn, person.person_id)
    return render(
        request,
        "research.html",
        {"studies": views, "opted_out": opted_out, "notice": notice, "operator": operator},
        status_code=status_code,
    )


@router.get("/research")
def research_page(request: Request, person: SelfDep) -> Response:
    _ = gettext_for(request)
    done = request.query_params.get("done")
    notice = {
        "joined": _("You joined the study."),
        "left": _(
            "You left the study. Nothing new is used from now on; "
            "answers already released cannot be called back."
        ),
        "opted-out": _("You opted out of all research. You are in no study now."),
        "opted-in": _("You can join studies again."),
    }.get(done or "")
    return _page(request, person, notice=notice)


def _act(request: Request, person: SelfDep, change: str, study_id: int | None) -> Response:
    _ = gettext_for(request)
    try:
        with pod_of(request).engine.begin() as conn:
            now = now_ms()
            if change == "join" and study_id is not None:
                studies.join(conn, study_id, person.person_id, now_ms=now)
            elif change == "leave" and study_id is not None:
                studies.leave(conn, study_id, person.person_id, now_ms=now)
            else:
                studies.set_opt_out(conn, person.person_id, change == "opt-out", now_ms=now)
    except HealthpodError:
        message = (
            _("You cannot join this study now: it is closed or ended, or you opted out.")
            if change == "join"
            else _("Nothing was changed: you are not in this study.")
        )
        return _page(request, person, notice=message, status_code=409)
    done = {"join": "joined", "leave": "left", "opt-out": "opted-out"}.get(change, "opted-in")
    return RedirectResponse(f"/research?done={done}", status_code=303)


@router.post("/research/{study_id}/join", dependencies=[Depends(security.verify_csrf)])
def join(request: Request, study_id: int, person: SelfDep) -> Response:
    return _act(request, person, "join", study_id)


@router.post("/research/{study_id}/leave", dependencies=[Depends(security.verify_csrf)])
def leave(request: Request, study_id: int, person: SelfDep) -> Response:
    return _act(request, person, "leave", study_id)


@router.post("/research/opt-out", dependencies=[Depends(security.verify_csrf)])
def opt_out(request: Request, person: SelfDep) -> Response:
    return _act(request, person, "opt-out", None)


@router.post("/research/opt-in", dependencies=[Depends(security.verify_csrf)])
def opt_in(request: Request, person: SelfDep) -> Response:
    return _act(request, person, "opt-in", None)
