"""Pseudonymised records for a study: what `GET /fhir/Group/{study}/$export` may send, and who.

Only a study that says its records leave the pod (`releases` "records") exports them, only to
its sponsor, only while it is open and before its end, and only Observations of its sample
categories (never who a person is: no name, birth date, identifier or device name). Each
current participant (none who left, none who opted out) is read through the one door: a
consent decision against the consent they joined with, logged in their own access log with
what was sent, within that consent's categories, period and granularity (daily summaries, or
every measurement). A person who leaves is refused at the door and is in no export after.

A person appears as `Patient/<pseudonym>`, a keyed hash (HMAC-SHA256 with the research key,
`healthpod.keys.research_key`) of the study and the person: the same in every export of one
study, unrelated across studies. Each record's id is a keyed hash too, so no id of the pod
(which would link a person across studies) leaves it.

A refusal (another sponsor's token, a study without record exports, a study not open or
ended, a `_type` outside the study) is logged as denied in each participant's log; nothing
is read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

from healthpod.consent import access, audit
from healthpod.consent.model import AccessRequest, Action
from healthpod.errors import AccessDenied, Conflict, HealthpodError, InvalidRequest
from healthpod.insights import summaries
from healthpod.research import studies
from healthpod.store.observations import DailyRow, Key, SampleFilter, SampleRow
from healthpod.store.person_data import PersonData
from healthpod.store.studies import StudyRow
from healthpod.vocabulary import IDENTITY_RESOURCES, RESOURCE_CATEGORIES, Category

EVENT = "research.export"
TYPES = ("Observation",)
PAGE = 1000
RECORD_CATEGORIES = frozenset(
    {c.value for c in RESOURCE_CATEGORIES.values()}
    | {Category.LAB_RESULTS.value, Category.OTHER_RECORDS.value}
)

Row = SampleRow | DailyRow


def pseudonym(key: bytes, study_id: int, person_id: int) -> str:
    """The person's pseudonym in the study: stable within it, unrelated across studies."""
    return _keyed(key, f"person:{study_id}:{person_id}")


def record_id(key: bytes, study_id: int, person_id: int, fhir_id: str) -> str:
    """A record's id in the study's export (the pod's own ids never leave it)."""
    return _keyed(key, f"record:{study_id}:{person_id}:{fhir_id}")


def _keyed(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def check(study: StudyRow, actor_id: int, types: list[str] | None, *, now_ms: int) -> list[str]:
    """The resource types to export, once the request is checked against the study.

    Raises:
        AccessDenied: the caller is not the study's sponsor.
        Conflict: the study exports no records, or is not open, or has ended.
        InvalidRequest: a `_type` the study does not export.
    """
    if actor_id != study.actor_id:
        raise AccessDenied(
            f"Study {study.id} is not yours: only its sponsor may export it.",
            hint="Use the backend client of the study's own sponsor.",
        )
    if study.releases != "records":
        raise Conflict(
            f"Study {study.id} releases aggregate answers only: no records leave the pod.",
            hint="Ask the study for differentially private answers instead.",
        )
    state = studies.state_at(study, now_ms)
    if state != "open":
        raise Conflict(f"Study {study.id} is {state}: nothing more is exported.")
    exported = [t for t in TYPES if set(study.categories) - RECORD_CATEGORIES]
    if types is None:
        if not exported:
            raise InvalidRequest(
                f"Study {study.id} has no categories whose records are exported "
                "(measurements and daily summaries, as Observations)."
            )
        return exported
    for asked in types:
        if asked in IDENTITY_RESOURCES:
            raise InvalidRequest(
                f"_type: a study never gets who a person is ({asked}).",
                hint="Ask for " + (", ".join(exported) or "nothing") + ".",
            )
        if asked not in exported:
            category = RESOURCE_CATEGORIES.get(asked)
            where = f" ({category.value})" if category is not None else ""
            raise InvalidRequest(
                f"_type: {asked}{where} is outside what study {study.id} exports "
                f"({', '.join(study.categories)}, as {', '.join(exported) or 'nothing'}).",
                hint="Ask only for " + (", ".join(exported) or "nothing") + ".",
            )
    return sorted(set(types))


def refuse(
    engine: Engine, study: StudyRow, actor_id: int, refused: HealthpodError, *, now_ms: int
) -> None:
    """Log a refused export as denied in each current participant's log (nothing is read)."""
    with engine.connect() as conn:
        cohort = [p.person_id for p in studies.participants(conn, study.id)]
    for person_id in cohort:
        access.authorize(
            engine,
            AccessRequest(person_id, actor_id, Action.READ),
            event=EVENT,
            details={"study": study.id},
            now_ms=now_ms,
            refused=f"study {study.id}: {refused.message}",
        )


@dataclass(slots=True)
class Progress:
    done: int = 0
    of: int = 0
    persons: int = 0  # whose records were sent (the door allowed them)
    records: int = 0


def export(
    engine: Engine,
    reads: Engine,
    study: StudyRow,
    *,
    key: bytes,
    job: str,
    write: Callable[[str, Row, str], None],
    now_ms: int,
    progress: Progress | None = None,
) -> Progress:
    """Read every current participant through the door and `write(pseudonym, row, id)` each
    record the decision lets out; log each person's decision with what was sent.

    A person refused at the door (left, consent revoked) is logged as denied and sends
    nothing. An entry is committed for each person before this returns, so a file made of
    what was written is fully logged before anyone can download it.
    """
    progress = progress or Progress()
    with reads.connect() as conn:
        cohort = studies.participants(conn, study.id)
    progress.of = len(cohort)
    for participation in cohort:
        person_id = participation.person_id
        request = AccessRequest(
            person_id, study.actor_id, Action.READ, consent_id=participation.consent_id
        )
        try:
            data, entry = access.decide_for_actor(
                engine,
                reads,
                request,
                event=EVENT,
                details={"study": study.id, "job": job, "pseudonymised": True},
                now_ms=now_ms,
            )
        except AccessDenied:
            progress.done += 1
            continue  # left meanwhile: the refusal is logged, nothing is read
        sent = audit.Returned()
        alias = pseudonym(key, study.id, person_id)
        try:
            for row in _rows(data):
                write(alias, row, record_id(key, study.id, person_id, row.fhir_id))
                sent.add(f"Observation/{row.fhir_id}")
        except BaseException as failed:
            entry.write(sent, failed=type(failed).__name__)
            raise
        entry.write(sent)
        progress.done += 1
        progress.persons += 1
        progress.records += sent.count
    return progress


def _rows(data: PersonData) -> Iterator[Row]:
    found = SampleFilter()
    after: Key | None = None
    if data.scope.daily_only:
        with data.writer() as write:
            summaries.catch_up(write)
        while True:
            with data.reader() as read:
                days = read.daily(found, after=after, limit=PAGE)
            yield from days
            if len(days) < PAGE:
                return
            after = days[-1].key
    while True:
        with data.reader() as read:
            samples = read.samples(found, after=after, limit=PAGE)
        yield from samples
        if len(samples) < PAGE:
            return
        after = samples[-1].key
