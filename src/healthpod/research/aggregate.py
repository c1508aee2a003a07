"""Differentially private answers for a study, made with OpenDP, charged to every contributor.

The privacy unit is the person. Each participant's daily values of one type over the study's
period are read through the one door (a consent decision and an access-log entry per person),
clamped to the asked bounds, at most one value per day; the statistic is taken over each
person's mean daily value. `count` counts contributing persons, `sum` adds their means, `mean`
averages them over the cohort (whose size the answer states). OpenDP adds the Laplace noise
and says its scale; the 95% interval is the value plus and minus OpenDP's accuracy at
alpha 0.05.

Before anything is read, a release is refused when the study is not open or past its end, the
type is outside its categories, the bounds or epsilon are wrong, any participant would pass
the study's budget or the region's yearly budget, or the cohort is under the study's minimum.
A refusal is logged in each participant's access log and spends no budget.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import opendp.prelude as dp
from sqlalchemy import Connection, Engine

from healthpod.consent import access, audit
from healthpod.consent.model import AccessRequest, Action
from healthpod.errors import AccessDenied, Conflict, HealthpodError, InvalidRequest
from healthpod.research import grouping, statistics, studies
from healthpod.store import studies as rows
from healthpod.store.observations import SampleFilter
from healthpod.store.studies import StudyRow
from healthpod.vocabulary import sample_type

dp.enable_features("contrib")

STATISTICS = ("count", "sum", "mean", "quantile", "histogram")
# What OpenDP can calibrate noise for (its search for a scale tops out near 1e14): bounds
# beyond any daily health value, an epsilon whose noise drowns any answer, and bounds so close
# together that a quantile's 1,001 candidates between them are not distinct numbers.
MAX_BOUND = 1e9
MIN_EPSILON = studies.MIN_EPSILON
MIN_SPAN = 1e-3  # of the bounds' own size
EVENT = "research.aggregate"
YEAR_MS = 365 * 86_400_000
ALPHA = 0.05


@dataclass(frozen=True, slots=True)
class Answer:
    value: float
    epsilon_spent: float
    noise_scale: float
    interval: tuple[float, float]
    cohort: int

    def document(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "epsilon_spent": self.epsilon_spent,
            "noise_scale": self.noise_scale,
            "interval": list(self.interval),
            "cohort": self.cohort,
        }


Released = Answer | statistics.Quantiles | statistics.Histogram


def _measurement(statistic: str, bounds: tuple[float, float], size: int, scale: float) -> Any:
    if statistic == "mean":
        space = dp.vector_domain(dp.atom_domain(bounds=bounds), size=size), dp.symmetric_distance()
        mean = dp.t.then_mean()  # type: ignore[no-untyped-call]
        return space >> mean >> dp.m.then_laplace(scale)
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    if statistic == "sum":
        total = dp.t.then_sum()  # type: ignore[no-untyped-call]
        return space >> dp.t.then_clamp(bounds) >> total >> dp.m.then_laplace(scale)
    return space >> dp.t.then_count() >> dp.m.then_laplace(scale)


def _d_in(statistic: str) -> int:
    # With the cohort's size known (a mean), one person changed is one out and one in.
    return 2 if statistic == "mean" else 1


def noisy(
    statistic: str, bounds: tuple[float, float], epsilon: float, values: list[float]
) -> Answer:
    """The differentially private statistic of one value per person (each person's mean)."""
    clamped = [min(max(v, bounds[0]), bounds[1]) for v in values]
    size = len(clamped)
    scale = float(
        dp.binary_search_param(
            lambda s: _measurement(statistic, bounds, size, s), d_in=_d_in(statistic), d_out=epsilon
        )
    )
    measurement = _measurement(statistic, bounds, size, scale)
    spent = float(measurement.map(_d_in(statistic)))
    value = float(measurement(clamped))
    accuracy = float(dp.laplacian_scale_to_accuracy(scale, ALPHA))
    return Answer(value, spent, scale, (value - accuracy, value + accuracy), size)


def check_request(
    study: StudyRow,
    *,
    type_code: str,
    statistic: str,
    bounds: tuple[float, float] | None,
    epsilon: float,
    now_ms: int,
    quantiles: Sequence[float] | None = None,
    bins: Sequence[float] | None = None,
    group_by: str | None = None,
) -> str:
    """The category of `type_code`, once the request is checked against the study.

    Raises:
        InvalidRequest: an unknown type or statistic, a type outside the study's categories,
            bounds missing or reversed, epsilon not above zero, quantiles or bin edges
            missing or wrong for their statistic (or given to another).
        Conflict: the study is not open, or past its end.
    """
    state = studies.state_at(study, now_ms)
    if state != "open":
        raise Conflict(f"Study {study.id} is {state}: it gets no answers.")
    known = sample_type(type_code)
    if known is None:
        raise InvalidRequest(f"Unknown type {type_code!r}.", hint="For example steps.")
    if known.category.value not in study.categories:
        raise InvalidRequest(
            f"Type {type_code} ({known.category.value}) is outside the study's categories "
            f"({', '.join(study.categories)}).",
            hint="Ask only for types of the categories the study was given.",
        )
    if statistic not in STATISTICS:
        raise InvalidRequest(
            f"Unknown statistic {statistic!r}.", hint="Use one of " + ", ".join(STATISTICS) + "."
        )
    if bounds is None or not all(math.isfinite(b) for b in bounds) or bounds[0] >= bounds[1]:
        raise InvalidRequest(
            "Give the bounds as LOW,HIGH with LOW below HIGH.", hint="For example --bounds 0,30000."
        )
    low, high = bounds
    if max(abs(low), abs(high)) > MAX_BOUND:
        raise InvalidRequest(
            f"The bounds must lie within ±{MAX_BOUND:,.0f}: no daily value needs more, and the "
            "noise of wider ones cannot be calibrated.",
            hint="Give the range a daily value of the type really takes, e.g. --bounds 0,30000.",
        )
    if high - low < MIN_SPAN * max(1.0, abs(low), abs(high)):
        raise InvalidRequest(
            "The bounds are too close together for an answer (at least a thousandth of their "
            "size apart).",
            hint="Give the range a daily value of the type really takes, e.g. --bounds 0,30000.",
        )
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidRequest("Epsilon must be a number above zero.", hint="For example 0.5.")
    if epsilon < MIN_EPSILON:
        raise InvalidRequest(
            f"Epsilon must be at least {MIN_EPSILON}: below it the noise drowns any answer.",
            hint="For example 0.5.",
        )
    _check_shape(statistic, quantiles, bins)
    if group_by is not None and group_by not in grouping.GROUPINGS:
        raise InvalidRequest(
            f"Unknown grouping {group_by[:40]!r}.",
            hint="Group by one of " + ", ".join(grouping.GROUPINGS) + ".",
        )
    return known.category.value


def _check_shape(
    statistic: str, quantiles: Sequence[float] | None, bins: Sequence[float] | None
) -> None:
    if statistic == "quantile":
        if not quantiles or len(quantiles) > statistics.MAX_QUANTILES:
            raise InvalidRequest(
                f"A quantile answer needs 1 to {statistics.MAX_QUANTILES} quantiles.",
                hint="For example --quantiles 0.25,0.5,0.75.",
            )
        if not all(math.isfinite(q) and 0 < q < 1 for q in quantiles):
            raise InvalidRequest(
                "Each quantile is a number between 0 and 1 (not 0 or 1 themselves).",
                hint="For example 0.5 for the median.",
            )
    elif quantiles is not None:
        raise InvalidRequest("Quantiles go only with the statistic quantile.")
    if statistic == "histogram":
        if not bins or len(bins) > statistics.MAX_BINS:
            raise InvalidRequest(
                f"A histogram needs 1 to {statistics.MAX_BINS} bin edges.",
                hint="For example --bins 0,5000,10000,15000.",
            )
        if not all(math.isfinite(e) for e in bins) or any(
            a >= b for a, b in itertools.pairwise(bins)
        ):
            raise InvalidRequest(
                "The bin edges must be numbers in increasing order, none twice.",
                hint="For example --bins 0,5000,10000,15000.",
            )
    elif bins is not None:
        raise InvalidRequest("Bin edges go only with the statistic histogram.")


def release(
    engine: Engine,
    reads: Engine,
    study_id: int,
    *,
    type_code: str,
    statistic: str,
    bounds: tuple[float, float] | None,
    epsilon: float,
    yearly_epsilon: float,
    now_ms: int,
    quantiles: Sequence[float] | None = None,
    bins: Sequence[float] | None = None,
    group_by: str | None = None,
) -> Released | grouping.Grouped:
    """Answer one question of the study's sponsor, or refuse it (logged for each participant).

    Raises:
        NotFound: no such study.
        InvalidRequest, Conflict: refused (see the module); nothing read, no budget spent.
    """
    with reads.connect() as conn:
        study = studies.get(conn, study_id)
        joined = _joined(conn, study_id)
    cohort = list(joined)
    # OpenDP types its measurements by the numbers' Python types: floats throughout.
    bounds = None if bounds is None else (float(bounds[0]), float(bounds[1]))
    epsilon = float(epsilon)
    try:
        category = check_request(
            study,
            type_code=type_code,
            statistic=statistic,
            bounds=bounds,
            epsilon=epsilon,
            now_ms=now_ms,
            quantiles=quantiles,
            bins=bins,
            group_by=group_by,
        )
        assert bounds is not None
        if len(cohort) < study.min_cohort:
            raise Conflict(
                f"The study has {len(cohort)} participants, under its minimum of "
                f"{study.min_cohort}: no answer is given."
            )
        with reads.connect() as conn:
            by_study, by_year = rows.most_spent(
                conn, cohort, study_id=study_id, since_ms=now_ms - YEAR_MS
            )
        remaining = min(study.epsilon_total - by_study, yearly_epsilon - by_year)
        if epsilon > remaining + 1e-12:
            raise Conflict(
                f"Epsilon {epsilon} is above the budget left for some participant "
                f"({max(remaining, 0.0):.4g}): no answer is given."
            )
    except HealthpodError as refused:
        _log_refusal(engine, study, cohort, refused.message, now_ms=now_ms)
        raise

    members: dict[str, dict[int, float]] = {}
    asked = (engine, reads, study, cohort, category, type_code, bounds)
    if group_by is not None:
        per_person, members = gather_groups(*asked, group_by, now_ms=now_ms, joined=joined)
    else:
        per_person = gather_cohort(*asked, statistic=statistic, now_ms=now_ms, joined=joined)
    if len(per_person) < study.min_cohort:
        message = (
            f"Only {len(per_person)} participants have {type_code} data in the study's period, "
            f"under its minimum of {study.min_cohort}: no answer is given."
        )
        _log_refusal(engine, study, cohort, message, now_ms=now_ms)
        raise Conflict(message)

    def answer_of(budget: float, values: list[float]) -> Released:
        assert bounds is not None
        if statistic == "quantile":
            assert quantiles is not None
            return statistics.quantiles(quantiles, bounds, budget, values)
        if statistic == "histogram":
            assert bins is not None
            return statistics.histogram(bins, bounds, budget, values)
        return noisy(statistic, bounds, budget, values)

    answer: Released | grouping.Grouped
    words = _WORDS[statistic]
    try:
        if group_by is not None:
            labels = (
                grouping.months(study.data_from_ms, study.data_to_ms)
                if group_by == "month"
                else sorted(members, key=_label_order)
            )
            answer = grouping.answer_groups(
                group_by,
                members,
                labels,
                epsilon=epsilon,
                min_cohort=study.min_cohort,
                answer=answer_of,
            )
            charges = answer.charges()
            words = f"{words} per {group_by}"
        else:
            answer = answer_of(epsilon, [v for v, _, _ in per_person.values()])
            charges = dict.fromkeys(per_person, epsilon)
    except (dp.OpenDPException, ArithmeticError, ValueError, TypeError) as failed:
        # The checks above keep the parameters where OpenDP calibrates noise; should it still
        # refuse them, the answer is refused like any other, nothing released or charged.
        message = (
            "OpenDP could not make this answer with these bounds and epsilon "
            f"({type(failed).__name__}): no answer is given."
        )
        _log_refusal(engine, study, cohort, message, now_ms=now_ms)
        raise InvalidRequest(
            message, hint="Use bounds a daily value really takes and a larger epsilon."
        ) from None
    with access._one_writer(engine), engine.begin() as conn:
        release_id = rows.add_release(
            conn,
            {
                "study_id": study.id,
                "type_code": type_code,
                "statistic": statistic if group_by is None else f"{statistic}/{group_by}",
                "epsilon": answer.epsilon_spent,
                "cohort": answer.cohort,
                "value": answer.value,
                "created_ms": now_ms,
            },
        )
        # Grouped answers charge each person what their groups spent (none for a person only
        # in suppressed groups): one statement and one log batch per distinct charge.
        by_charge: dict[float, list[int]] = {}
        for person_id in sorted(per_person):
            if person_id in charges:
                by_charge.setdefault(charges[person_id], []).append(person_id)
        said = (
            f"Study {study.title!r} used your daily {type_code} for {words} "
            f"over {answer.cohort:,} people"
        )
        drafts = []
        for charge, charged in sorted(by_charge.items()):
            rows.charge_many(conn, release_id, study.id, charged, charge, now_ms=now_ms)
            details = {"study": study.id, "release": release_id, "epsilon": charge}
            for person_id in charged:
                _, entry, consent_id = per_person[person_id]
                drafts.append(
                    audit.Draft(
                        person_id,
                        study.actor_id,
                        "research.released",
                        "ok",
                        details,
                        reason=said,
                        consent_id=consent_id,
                        refers_to=entry,
                    )
                )
        audit.record_many(conn, drafts, now_ms=now_ms)
    return answer


def _label_order(label: str) -> tuple[int, str]:
    # Age bands by age ("5-14" before "10-19" cannot happen: bands start at multiples of 10).
    first = label.split("-")[0]
    return (int(first), label) if first.isdigit() else (10_000, label)


def gather_groups(
    engine: Engine,
    reads: Engine,
    study: StudyRow,
    cohort: list[int],
    category: str,
    type_code: str,
    bounds: tuple[float, float],
    group_by: str,
    *,
    now_ms: int,
    joined: Mapping[int, int] | None = None,
) -> tuple[dict[int, tuple[float, int | None, int | None]], dict[str, dict[int, float]]]:
    """As `gather_cohort` (one logged decision per participant, through the cohort's door),
    and each person's group: for a month, their mean daily value that month; else the group
    of their age band or sex (read inside the pod through their own door within the same
    decision, never released) with their mean over the period."""
    max_days = max(1, (study.data_to_ms - study.data_from_ms) // studies.DAY_MS)
    details = {"study": study.id, "type": type_code, "group_by": group_by}
    opened = access.open_for_cohort(
        engine,
        reads,
        cohort,
        study.actor_id,
        categories=[category],
        event=EVENT,
        details=details,
        now_ms=now_ms,
        consent_ids=_joined_consents(reads, study.id) if joined is None else joined,
    )
    found = SampleFilter(type_codes=frozenset({type_code}))
    first_day = datetime.fromtimestamp(study.data_from_ms / 1000, UTC).date()
    per_person: dict[int, tuple[float, int | None, int | None]] = {}
    members: dict[str, dict[int, float]] = {}
    by_month = group_by == "month"
    means = opened.data.daily_means(found, bounds=bounds, limit=max_days, per_month=by_month)
    traits = {} if by_month else opened.data.grouping_traits(first_day)
    for person_id, person in means.items():
        decision = opened.decisions[person_id]
        per_person[person_id] = (person.mean, decision.entry_seq, decision.consent_id)
        if person.months is not None:
            for month, mean in person.months.items():
                members.setdefault(month, {})[person_id] = mean
            continue
        decade, sex = traits[person_id]
        label = grouping.sex_group(sex) if group_by == "sex" else grouping.band(decade)
        members.setdefault(label, {})[person_id] = person.mean
    return per_person, members


def gather(
    engine: Engine,
    reads: Engine,
    study: StudyRow,
    cohort: list[int],
    category: str,
    type_code: str,
    bounds: tuple[float, float],
    *,
    statistic: str = "mean",
    now_ms: int,
) -> dict[int, tuple[float, int | None, int | None]]:
    """Each participant's mean daily value, read through the door (one logged decision each),
    with the decision's log entry and consent: the only inputs a release is made from."""
    per_person: dict[int, tuple[float, int | None, int | None]] = {}
    max_days = max(1, (study.data_to_ms - study.data_from_ms) // studies.DAY_MS)
    found = SampleFilter(type_codes=frozenset({type_code}))
    joined = _joined_consents(reads, study.id)
    for person_id in cohort:
        request = AccessRequest(
            person_id,
            study.actor_id,
            Action.READ,
            categories=frozenset({category}),
            consent_id=joined.get(person_id),
        )
        details = {"study": study.id, "type": type_code, "statistic": statistic}
        try:
            data = access.open_for_actor(
                engine, reads, request, event=EVENT, details=details, now_ms=now_ms
            )
        except AccessDenied:
            continue  # left in the meantime: logged as denied, nothing read
        with data.reader() as read:
            days = read.daily(found, after=None, limit=max_days)
        if days:
            daily = [min(max(d.value, bounds[0]), bounds[1]) for d in days[:max_days]]
            entry = data.accessor.decision.entry_seq if data.accessor.decision else None
            per_person[person_id] = (sum(daily) / len(daily), entry, data.accessor.consent_id)
    return per_person


def _joined_consents(reads: Engine, study_id: int) -> dict[int, int]:
    with reads.connect() as conn:
        return _joined(conn, study_id)


def _joined(conn: Connection, study_id: int) -> dict[int, int]:
    """Each current participant (in person order) with the consent they joined the study
    with: their reads are bound to it, so another consent they gave the same sponsor
    (another study's) never counts."""
    return {p.person_id: p.consent_id for p in studies.participants(conn, study_id)}


def gather_cohort(
    engine: Engine,
    reads: Engine,
    study: StudyRow,
    cohort: list[int],
    category: str,
    type_code: str,
    bounds: tuple[float, float],
    *,
    statistic: str = "mean",
    now_ms: int,
    joined: Mapping[int, int] | None = None,
) -> dict[int, tuple[float, int | None, int | None]]:
    """What `gather` gives, with the same decisions and log entries, read through the
    cohort's door in a few statements for every participant (`access.open_for_cohort`)."""
    max_days = max(1, (study.data_to_ms - study.data_from_ms) // studies.DAY_MS)
    details = {"study": study.id, "type": type_code, "statistic": statistic}
    opened = access.open_for_cohort(
        engine,
        reads,
        cohort,
        study.actor_id,
        categories=[category],
        event=EVENT,
        details=details,
        now_ms=now_ms,
        consent_ids=_joined_consents(reads, study.id) if joined is None else joined,
    )
    found = SampleFilter(type_codes=frozenset({type_code}))
    per_person: dict[int, tuple[float, int | None, int | None]] = {}
    for person_id, person in opened.data.daily_means(found, bounds=bounds, limit=max_days).items():
        decision = opened.decisions[person_id]
        per_person[person_id] = (person.mean, decision.entry_seq, decision.consent_id)
    return per_person


def inputs(
    engine: Engine,
    reads: Engine,
    study_id: int,
    *,
    type_code: str,
    bounds: tuple[float, float],
    now_ms: int,
) -> dict[int, float]:
    """The per-person values a release of `type_code` would be made from now (each read is
    logged as a decision, as for a release)."""
    with reads.connect() as conn:
        study = studies.get(conn, study_id)
        cohort = [p.person_id for p in studies.participants(conn, study_id)]
    known = sample_type(type_code)
    if known is None:
        raise InvalidRequest(f"Unknown type {type_code!r}.")
    found = gather_cohort(
        engine, reads, study, cohort, known.category.value, type_code, bounds, now_ms=now_ms
    )
    return {person_id: value for person_id, (value, _, _) in found.items()}


_WORDS = {
    "count": "one count",
    "sum": "one total",
    "mean": "one average",
    "quantile": "quantiles (such as a median)",
    "histogram": "one histogram",
}


def refuse(
    engine: Engine, reads: Engine, study_id: int, message: str, *, actor_id: int, now_ms: int
) -> None:
    """Log a request refused before it reached `release` (not the sponsor's token, a body
    that is no question) in each participant's access log, under the actor who asked."""
    with reads.connect() as conn:
        study = studies.get(conn, study_id)
        cohort = [p.person_id for p in studies.participants(conn, study_id)]
    _log_refusal(engine, study, cohort, message, now_ms=now_ms, actor_id=actor_id)


def _log_refusal(
    engine: Engine,
    study: StudyRow,
    cohort: list[int],
    message: str,
    *,
    now_ms: int,
    actor_id: int | None = None,
) -> None:
    access.refuse_cohort(
        engine,
        cohort,
        study.actor_id if actor_id is None else actor_id,
        f"study {study.id}: {message}",
        event=EVENT,
        details={"study": study.id},
        now_ms=now_ms,
    )
