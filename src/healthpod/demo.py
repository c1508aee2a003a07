"""The demo pod: a year of generated data, real bundled exports, a login, two actors with consents.

Everything goes in through the same doors as a person's data: files through the importers,
the account through `accounts`, actors and consents through `consent`, reads through
`consent.access` (so the access log has real entries). `set_up` is idempotent: a pod that
already has the demo account is reused as it is.

The demo lives apart from a person's own pod: it fills only an empty pod or one it made itself
(the `DEMO_MARKER` file in the home names the database it filled), never the default home.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from healthpod import accounts
from healthpod.config import default_data_dir, default_demo_dir
from healthpod.consent import access, actors
from healthpod.consent import store as consent_store
from healthpod.consent.model import AccessRequest, Action, Granularity, Scope
from healthpod.demo_export import write_export
from healthpod.errors import Conflict, HealthpodError
from healthpod.ingest.run import import_path
from healthpod.keys import secret_key
from healthpod.pod import DEFAULT_PERSON, DEMO_MARKER, Pod, now_ms
from healthpod.store import migrate, persons, rls, schema
from healthpod.vocabulary import Category

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "healthpod-demo"  # noqa: S105 (the published demo login, not a secret)
DATA_DIR = Path(__file__).parent / "demo_data"
# Imported in this order; the generated year comes last so its characteristics are the person's.
BUNDLED = (
    "healthkit-to-sqlite-export.xml",
    "apple-health-parser-export.zip",
    "ahcd-go-export.xml",
    "synthea-xavier-lueilwitz.json",
)
DAY_MS = 24 * 3600 * 1000
DEMO_DAYS = 365


@dataclass
class DemoReport:
    """What `set_up` did, for the CLI to print."""

    created: bool
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    username: str = DEMO_USERNAME
    password: str = DEMO_PASSWORD


def set_up(pod: Pod, *, say: Callable[[str], None] = lambda _message: None) -> DemoReport:
    """Fill `pod` with the demo person, unless it already has the demo account.

    Raises:
        Conflict: the pod is the default home, or holds data the demo did not put there.
    """
    claim(pod)
    migrate.upgrade(pod.engine)
    secret_key(pod.settings.home)
    with pod.engine.connect() as conn, rls.scoped(conn, "sign-in"):
        exists = conn.scalar(
            select(schema.accounts.c.id).where(schema.accounts.c.username == DEMO_USERNAME)
        )
    if exists is not None:
        return DemoReport(created=False)
    report = DemoReport(created=True)
    person_id = pod.person_id(DEFAULT_PERSON)
    for name in BUNDLED:
        _import(pod, DATA_DIR / name, report, say)
    with tempfile.TemporaryDirectory(prefix="healthpod-demo-") as work:
        export = Path(work) / "demo-year-export.xml"
        say("Generating a year of watch, phone, scale and cuff data…")
        write_export(export, end=datetime.now(UTC), days=DEMO_DAYS)
        _import(pod, export, report, say)
    now = now_ms()
    with pod.engine.begin() as conn:
        accounts.create_account(conn, DEMO_USERNAME, DEMO_PASSWORD, person_id=person_id, now_ms=now)
    _actors_and_consents(pod, person_id, now)
    return report


def claim(pod: Pod) -> None:
    """Mark `pod` as the demo's, unless it is already; refuse a pod that is a person's own.

    The marker is written before anything is imported, so a demo stopped halfway is finished
    by the next run rather than refused for the data it left.

    Raises:
        Conflict: the pod is the default home, or holds data the demo did not put there.
    """
    if pod.is_demo:
        return
    home = pod.settings.home
    if home.resolve() == default_data_dir().resolve():
        raise Conflict(
            f"{home} is where your own pod lives; the demo never uses it.",
            hint=f"Run `healthpod demo` without --home: it keeps its own pod in "
            f"{default_demo_dir()}.",
        )
    if holds_data(pod.engine):
        raise Conflict(
            f"The pod in {home} holds data that the demo did not put there; the demo never "
            "touches it.",
            hint=f"Run `healthpod demo` without --home (it keeps its own pod in "
            f"{default_demo_dir()}), or give --home an empty folder.",
        )
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text(pod.database_name + "\n")
    pod.__dict__.pop("is_demo", None)  # the cached answer was "no"


def holds_data(engine: Engine) -> bool:
    """Whether the database holds anything: a person, an import, a login or an actor, or tables
    that are not healthpod's."""
    return persons.holds_data(engine)


def _import(pod: Pod, path: Path, report: DemoReport, say: Callable[[str], None]) -> None:
    try:
        for result in import_path(pod, path):
            say(f"Imported {result.filename}: {result.total_added} items ({result.format}).")
        report.imported.append(path.name)
    except HealthpodError as exc:
        # A format whose importer is not installed yet is skipped, not fatal to the demo.
        say(f"Skipped {path.name}: {exc.message}")
        report.skipped.append(path.name)


def _actors_and_consents(pod: Pod, person_id: int, now: int) -> None:
    """A coaching app with a daily-summary consent, and a clinic with raw access to vitals."""
    with pod.engine.begin() as conn:
        coach = actors.register(
            conn,
            name="Coach Anna",
            kind="coach",
            purpose="dpv:ServiceProvision",
            redirect_uris=["http://127.0.0.1:8765/callback"],
            public=True,
            now_ms=now - 40 * DAY_MS,
        ).actor
        clinic = actors.register(
            conn,
            name="Vårdcentralen Kungsholmen",
            kind="clinic",
            purpose="TREAT",
            redirect_uris=["http://127.0.0.1:8766/callback"],
            public=False,
            now_ms=now - 20 * DAY_MS,
        ).actor
    with pod.engine.begin() as conn:
        consent_store.grant(
            conn,
            person_id,
            coach.id,
            Scope(
                categories=frozenset({Category.ACTIVITY.value, Category.SLEEP.value}),
                granularity=Granularity.DAILY,
                actions=frozenset({Action.READ}),
            ),
            valid_until_ms=now + 180 * DAY_MS,
            now_ms=now,
        )
    with pod.engine.begin() as conn:
        consent_store.grant(
            conn,
            person_id,
            clinic.id,
            Scope(
                categories=frozenset(
                    {Category.HEART.value, Category.BLOOD_PRESSURE.value, Category.BODY.value}
                ),
                data_from_ms=now - 365 * DAY_MS,
                granularity=Granularity.RAW,
                actions=frozenset({Action.READ}),
            ),
            valid_until_ms=now + 90 * DAY_MS,
            now_ms=now,
        )
    # A few reads as the API makes them, so the access log has allowed and denied entries.
    reads = [
        (coach.id, Category.ACTIVITY.value, "fhir.search"),
        (coach.id, Category.SLEEP.value, "fhir.search"),
        (clinic.id, Category.BLOOD_PRESSURE.value, "fhir.search"),
        (coach.id, Category.HEART.value, "fhir.search"),  # not in the coach's consent: denied
    ]
    for actor_id, category, event in reads:
        access.authorize(
            pod.engine,
            AccessRequest(
                person_id=person_id,
                actor_id=actor_id,
                action=Action.READ,
                categories=frozenset({category}),
                resource_type="Observation",
            ),
            event=event,
            details={"path": "/fhir/Observation", "demo": True},
            now_ms=now_ms(),
        )
