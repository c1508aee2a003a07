"""Studies: what a research actor asks for, and people joining and leaving on their own terms.

The region's operator creates a study for a research actor (its sponsor) and opens and closes
it. A person joins an open study with one consent (purpose healthcare research, the study's
categories, granularity and data period, ending with the study) and leaves at any time: the
consent is revoked, so nothing new is used; what was already released stays released. The
consent never covers identity; its receipt, FHIR view and the join's access-log entry say that
answers may be grouped by the person's age band or sex, which the pod works out from its own
record so that only the group's name leaves it (`grouping`). A person who opted out of all
secondary use (EHDS, Regulation (EU) 2025/327, Art. 71) joins nothing and leaves every study
they were in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

from healthpod.consent import audit
from healthpod.consent import store as consents
from healthpod.consent.actors import ActorKind, find_actor, get_actor
from healthpod.consent.model import (
    ALL_CATEGORIES,
    IDENTITY,
    Action,
    Consent,
    Granularity,
    Scope,
)
from healthpod.consent.receipt import grouping_summary
from healthpod.errors import Conflict, InvalidRequest, NotFound
from healthpod.research import duo
from healthpod.research.grouping import TRAITS
from healthpod.store import studies as rows
from healthpod.store.studies import Participation, StudyRow
from healthpod.vocabulary import SAMPLE_TYPES

PURPOSE = "HRESCH"  # HL7 v3 ActReason: healthcare research
DAY_MS = 86_400_000

MAX_COHORT = 100_000_000  # more people than a region has; the column is a 32-bit integer
MAX_EPSILON = 1000.0  # as the yearly budget per person (HEALTHPOD_RESEARCH_YEARLY_EPSILON)
# Below it OpenDP's noise drowns any answer (and cannot be calibrated for wide bounds): the
# least a study's budget, and one answer, may spend.
MIN_EPSILON = 0.001
# What a study can be given: measurements and their daily summaries. Records from healthcare
# (conditions, medications, lab results, notes) carry free text that may name the person, and
# neither an aggregate nor a pseudonymised export is made of them.
MEASURED = frozenset(t.category.value for t in SAMPLE_TYPES)


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """What `study create` was given, before it is checked."""

    title: str
    sponsor: str  # an actor's client id or id
    duo: str
    categories: str
    granularity: str
    data_from: date
    data_to: date
    min_cohort: int
    epsilon: float
    summary_en: str | None = None
    summary_sv: str | None = None
    ethics_ref: str | None = None
    end: date | None = None
    releases: str = "aggregates"


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def create(conn: Connection, plan: StudyPlan, *, now_ms: int) -> StudyRow:
    """Check and store a study, as a draft the operator then opens.

    Raises:
        InvalidRequest: an empty title, unknown DUO codes or categories, identity asked for,
            records from healthcare asked for, an empty data period, an end date past, a
            minimum cohort under 2, a budget under `MIN_EPSILON`.
        NotFound: no such sponsor.
        Conflict: the sponsor is disabled or not a research actor.
    """
    title = plan.title.strip()
    if not title:
        raise InvalidRequest("A study needs a title.", hint="Give --title TEXT.")
    sponsor = find_actor(conn, plan.sponsor)
    if sponsor.disabled:
        raise Conflict(f"Actor {sponsor.name!r} is disabled and cannot sponsor a study.")
    if sponsor.kind is not ActorKind.RESEARCH:
        raise Conflict(
            f"Actor {sponsor.name!r} is a {sponsor.kind.value} actor, not a research actor.",
            hint="Register the sponsor with `healthpod actor add --kind research`.",
        )
    codes = duo.parse_codes(plan.duo)
    categories = sorted({c.strip() for c in plan.categories.split(",") if c.strip()})
    unknown = set(categories) - ALL_CATEGORIES
    if not categories or unknown:
        raise InvalidRequest(
            f"Unknown data categories: {', '.join(sorted(unknown))}."
            if unknown
            else "A study needs at least one data category.",
            hint="Use some of: " + ", ".join(sorted(ALL_CATEGORIES - {IDENTITY})) + ".",
        )
    if IDENTITY in categories:
        raise InvalidRequest(
            "A study never gets who a person is (the identity category).",
            hint="Leave identity out of --categories.",
        )
    records = sorted(set(categories) - MEASURED)
    if records:
        raise InvalidRequest(
            f"A study gets measurements only; {', '.join(records)} "
            f"{'is a record' if len(records) == 1 else 'are records'} from healthcare, which "
            "no study gets (their free text may name the person).",
            hint="Use some of: " + ", ".join(sorted(MEASURED)) + ".",
        )
    try:
        granularity = Granularity(plan.granularity)
    except ValueError:
        raise InvalidRequest(
            f"Unknown granularity {plan.granularity!r}.", hint="Use daily or raw."
        ) from None
    if plan.data_to <= plan.data_from:
        raise InvalidRequest(
            "The data period is empty: --to must come after --from.",
            hint="For example --from 2025-01-01 --to 2026-01-01.",
        )
    end_ms = None if plan.end is None else _ms(plan.end)
    if end_ms is not None and end_ms <= now_ms:
        raise InvalidRequest("The study's end date has passed.", hint="Give a later --end.")
    if not 2 <= plan.min_cohort <= MAX_COHORT:
        raise InvalidRequest(
            f"The minimum cohort must be at least 2 people and at most {MAX_COHORT:,}.",
            hint="Give --min-cohort N.",
        )
    if not MIN_EPSILON <= plan.epsilon <= MAX_EPSILON:  # NaN fails this too
        raise InvalidRequest(
            f"The privacy budget (epsilon) must be a number from {MIN_EPSILON:g} to "
            f"{MAX_EPSILON:g}.",
            hint="For example --epsilon 2.",
        )
    if plan.releases not in ("aggregates", "records"):
        raise InvalidRequest("What leaves the pod is aggregates or records.")
    values: dict[str, Any] = {
        "actor_id": sponsor.id,
        "title": title,
        "summary_en": plan.summary_en,
        "summary_sv": plan.summary_sv,
        "ethics_ref": plan.ethics_ref,
        "duo": codes,
        "categories": categories,
        "granularity": granularity.value,
        "data_from_ms": _ms(plan.data_from),
        "data_to_ms": _ms(plan.data_to),
        "releases": plan.releases,
        "min_cohort": plan.min_cohort,
        "epsilon_total": float(plan.epsilon),
        "status": "draft",
        "end_ms": end_ms,
        "created_ms": now_ms,
    }
    return get(conn, rows.add(conn, values))


def get(conn: Connection, study_id: int) -> StudyRow:
    """Raises: NotFound: no study has this id."""
    found = rows.get(conn, study_id)
    if found is None:
        raise NotFound(f"There is no study with id {study_id}.", hint="See `healthpod study list`.")
    return found


def list_studies(conn: Connection, *, status: str | None = None) -> list[StudyRow]:
    return rows.list_all(conn, status=status)


def budget_spent(conn: Connection) -> dict[int, float]:
    """The epsilon each study has released so far (its releases added up), by study id."""
    return rows.released_epsilon(conn)


def state_at(study: StudyRow, now_ms: int) -> str:
    """draft|open|closed|ended: a study past its end date has ended, whatever is stored."""
    if study.status == "open" and study.end_ms is not None and now_ms >= study.end_ms:
        return "ended"
    return study.status


def open_study(conn: Connection, study_id: int, *, now_ms: int) -> StudyRow:
    """Open a draft study for joining.

    Raises:
        NotFound: no such study.
        Conflict: it is open already, closed, or past its end date.
    """
    study = get(conn, study_id)
    if study.status != "draft":
        raise Conflict(f"Study {study_id} is {study.status}; only a draft study can be opened.")
    if study.end_ms is not None and study.end_ms <= now_ms:
        raise Conflict(f"Study {study_id} is past its end date and cannot be opened.")
    rows.set_status(conn, study_id, "open", now_ms=now_ms)
    return get(conn, study_id)


def close_study(conn: Connection, study_id: int, *, now_ms: int) -> StudyRow:
    """Close a study: nobody joins it any more and nothing more is released.

    Raises:
        NotFound: no such study.
        Conflict: it is closed already.
    """
    study = get(conn, study_id)
    if study.status == "closed":
        raise Conflict(f"Study {study_id} is closed already.")
    rows.set_status(conn, study_id, "closed", now_ms=now_ms)
    return get(conn, study_id)


def join(conn: Connection, study_id: int, person_id: int, *, now_ms: int) -> Participation:
    """The person joins the study with one consent for its sponsor (logged as granted).

    Raises:
        NotFound: no such study.
        Conflict: the study is not open (a draft, closed or ended), the person opted out of
            all research, or is in it already.
    """
    study = get(conn, study_id)
    state = state_at(study, now_ms)
    if state != "open":
        raise Conflict(
            f"Study {study_id} is {state}: it cannot be joined.",
            hint="Only open studies can be joined; `healthpod study list` shows them.",
        )
    if rows.opted_out_since(conn, person_id) is not None:
        raise Conflict(
            "You opted out of all research (EHDS Art. 71), so you cannot join a study.",
            hint="Turn the opt-out off first (`healthpod study opt-out --off`).",
        )
    if rows.current(conn, study_id, person_id) is not None:
        raise Conflict(f"You are in study {study_id} already.")
    scope = Scope(
        categories=frozenset(study.categories),
        data_from_ms=study.data_from_ms,
        data_to_ms=study.data_to_ms,
        granularity=Granularity(study.granularity),
        actions=frozenset({Action.READ}),
    )
    consent = consents.grant(
        conn,
        person_id,
        study.actor_id,
        scope,
        valid_until_ms=study.end_ms,
        now_ms=now_ms,
        purpose=PURPOSE,
    )
    joined = rows.join(conn, study_id, person_id, consent.id, now_ms=now_ms)
    # The consent's scope is the study's data; what its answers may also be grouped by is
    # read inside the pod, so the person's log says so where the join is.
    audit.record(
        conn,
        person_id,
        study.actor_id,
        "study.joined",
        "ok",
        {
            "study": study.id,
            "title": study.title,
            "categories": sorted(study.categories),
            "grouped_by": list(TRAITS),
        },
        now_ms=now_ms,
        reason=f"joined study {study.id} with consent {consent.id}: "
        f"{grouping_summary(TRAITS)}; identity withheld",
        consent_id=consent.id,
        done_by=audit.DoneBy.PERSON,
    )
    return joined


def leave(conn: Connection, study_id: int, person_id: int, *, now_ms: int) -> Participation:
    """The person leaves the study: its consent is revoked, nothing new is used from now on.

    Raises:
        NotFound: no such study.
        Conflict: the person is not in it.
    """
    get(conn, study_id)
    found = rows.current(conn, study_id, person_id)
    if found is None:
        raise Conflict(f"You are not in study {study_id}.")
    _end(conn, found, now_ms=now_ms)
    return found


def _end(conn: Connection, participation: Participation, *, now_ms: int) -> None:
    consent = consents.get_consent(conn, participation.person_id, participation.consent_id)
    if consent.revoked_ms is None:
        consents.revoke(conn, participation.person_id, participation.consent_id, now_ms=now_ms)
    rows.leave(conn, participation.id, participation.person_id, now_ms=now_ms)


def set_opt_out(conn: Connection, person_id: int, opted_out: bool, *, now_ms: int) -> list[int]:
    """Opt out of (or back into) all secondary use; opting out leaves every study.

    Returns the ids of the studies left.
    """
    left: list[int] = []
    if opted_out:
        for participation in rows.of_person(conn, person_id):
            if participation.left_ms is None:
                _end(conn, participation, now_ms=now_ms)
                left.append(participation.study_id)
    rows.set_opt_out(conn, person_id, opted_out, now_ms=now_ms)
    return left


def opted_out(conn: Connection, person_id: int) -> bool:
    return rows.opted_out_since(conn, person_id) is not None


def data_use(conn: Connection, person_id: int, consent_id: int) -> list[dict[str, str]]:
    """The DUO codings of the study the person joined with this consent (none for a consent
    of no study): what a FHIR Consent view adds to the purpose."""
    study = rows.by_consent(conn, person_id, consent_id)
    return [] if study is None else duo.codings(study.duo)


def grouping(conn: Connection, person_id: int, consent_id: int) -> tuple[str, ...]:
    """The traits of the person (age band, sex) the answers of the study joined with this
    consent may be grouped by, read inside the pod; none for a consent of no study."""
    return TRAITS if rows.by_consent(conn, person_id, consent_id) is not None else ()


def consent_summary(conn: Connection, consent: Consent) -> str:
    """The consent's summary, and for a study's consent what its answers may be grouped by."""
    traits = grouping(conn, consent.person_id, consent.id)
    return "; ".join(filter(None, (consent.summary(), grouping_summary(traits))))


def study_consents(conn: Connection, person_id: int) -> frozenset[int]:
    """The ids of the consents the person joined studies with (current and ended)."""
    return frozenset(p.consent_id for p in rows.of_person(conn, person_id))


def participations(conn: Connection, person_id: int) -> list[Participation]:
    return rows.of_person(conn, person_id)


def participants(conn: Connection, study_id: int) -> list[Participation]:
    """The study's current participants (none who left, none who opted out)."""
    return rows.participants(conn, study_id)


def document(conn: Connection, study: StudyRow, *, now_ms: int) -> dict[str, Any]:
    """A study as `study show --json` prints it."""
    sponsor = get_actor(conn, study.actor_id)
    return {
        "id": study.id,
        "status": state_at(study, now_ms),
        "title": study.title,
        "summary": {"en": study.summary_en, "sv": study.summary_sv},
        "sponsor": {"id": sponsor.id, "client_id": sponsor.client_id, "name": sponsor.name},
        "ethics_ref": study.ethics_ref,
        "duo": [{"code": c, "id": duo.duo_id(c), "display": duo.describe(c)} for c in study.duo],
        "categories": list(study.categories),
        "granularity": study.granularity,
        "data_from": _day(study.data_from_ms),
        "data_to": _day(study.data_to_ms),
        "releases": study.releases,
        "min_cohort": study.min_cohort,
        "epsilon": study.epsilon_total,
        "end": None if study.end_ms is None else _day(study.end_ms),
        "participants": len(participants(conn, study.id)),
    }


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
