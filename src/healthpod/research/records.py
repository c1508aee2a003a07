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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from healthpod.consent import access, audit
from healthpod.consent.model import Decision
from healthpod.errors import AccessDenied, Conflict, HealthpodError, InvalidRequest
from healthpod.research import studies
from healthpod.store.observations import DailyRow, Key, SampleFilter, SampleRow
from healthpod.store.person_data import PersonData
from healthpod.store.studies import StudyRow
from healthpod.vocabulary import IDENTITY_RESOURCES, RESOURCE_CATEGORIES, Category

EVENT = "research.export"
TYPES = ("Observation",)
PAGE = 1000
CHUNK = 1000  # persons decided, read and logged together
DAILY_TYPES = 64  # the most sample types of one day a person's daily rows are read for
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
    """Log a refused export as denied in each current participant's log, in one batch
    (nothing is read)."""
    with engine.connect() as conn:
        cohort = [p.person_id for p in studies.participants(conn, study.id)]
    access.refuse_cohort(
        engine,
        cohort,
        actor_id,
        f"study {study.id}: {refused.message}",
        event=EVENT,
        details={"study": study.id},
        now_ms=now_ms,
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
    record their decision lets out; log each person's decision, then what was sent.

    The cohort's door (`consent.access.open_for_cohort`), `CHUNK` persons at a time: their
    decisions, each against the consent they joined with, in one batch of entries; the daily
    summaries of those allowed in one query (a raw study reads each person's measurements
    through their own door); then one `returned` entry per person in one batch. A person
    refused at the door (left, consent revoked) is logged as denied and sends nothing. Every
    entry is committed before this returns, so a file made of what was written is fully
    logged before anyone can download it.
    """
    progress = progress or Progress()
    with reads.connect() as conn:
        cohort = studies.participants(conn, study.id)
    progress.of = len(cohort)
    per_person_days = max(1, (study.data_to_ms - study.data_from_ms) // studies.DAY_MS)
    for first in range(0, len(cohort), CHUNK):
        chunk = cohort[first : first + CHUNK]
        opened = access.open_for_cohort(
            engine,
            reads,
            [p.person_id for p in chunk],
            study.actor_id,
            categories=(),
            event=EVENT,
            details={"study": study.id, "job": job, "pseudonymised": True},
            now_ms=now_ms,
            consent_ids={p.person_id: p.consent_id for p in chunk},
        )
        data = opened.data
        daily = {p for p in data.person_ids if data.scopes[p].daily_only}
        days: dict[int, list[DailyRow]] = {}
        if daily:  # one query; a person whose consent gives every measurement reads below
            days = data.daily(SampleFilter(), limit=per_person_days * DAILY_TYPES)
        sent: dict[int, audit.Returned] = {}
        for person_id in data.person_ids:
            alias = pseudonym(key, study.id, person_id)
            rows: Iterable[Row] = (
                days.get(person_id, []) if person_id in daily else _rows(data.door(person_id))
            )
            returned = sent[person_id] = audit.Returned()
            for row in rows:
                write(alias, row, record_id(key, study.id, person_id, row.fhir_id))
                returned.add(f"Observation/{row.fhir_id}")
            progress.persons += 1
            progress.records += returned.count
        _log_returned(engine, study, opened.decisions, sent, now_ms=now_ms)
        progress.done += len(chunk)
    return progress


def _log_returned(
    engine: Engine,
    study: StudyRow,
    decisions: Mapping[int, Decision],
    sent: Mapping[int, audit.Returned],
    *,
    now_ms: int,
) -> None:
    """One `returned` entry per person who was sent anything, referring to their decision."""
    drafts = [
        audit.Draft(
            person_id,
            study.actor_id,
            audit.RETURNED,
            "ok",
            returned.details(),
            reason=f"returned {returned.count} resource{'' if returned.count == 1 else 's'}",
            consent_id=decisions[person_id].consent_id,
            refers_to=decisions[person_id].entry_seq,
        )
        for person_id, returned in sorted(sent.items())
    ]
    if drafts:
        with access._one_writer(engine), engine.begin() as conn:
            audit.record_many(conn, drafts, now_ms=now_ms)


def _rows(data: PersonData) -> Iterator[SampleRow]:
    """Every measurement the person's door lets out, page by page."""
    found = SampleFilter()
    after: Key | None = None
    while True:
        with data.reader() as read:
            samples = read.samples(found, after=after, limit=PAGE)
        yield from samples
        if len(samples) < PAGE:
            return
        after = samples[-1].key
