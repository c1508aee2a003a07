"""Notifications: made from the access log, shown in the inbox, sent as email digests through a
real SMTP server (aiosmtpd) in the test process; a server that is down loses nothing; no email
holds health data."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from tests.consent.test_state_machine import add_sample

from healthpod import accounts
from healthpod.cli import cli
from healthpod.consent import AccessRequest, Action, Granularity, Scope, access, actors, delegates
from healthpod.consent import store as consent_store
from healthpod.consent.delegation import DelegateAction
from healthpod.errors import AccessDenied
from healthpod.notify import digest, inbox, texts
from healthpod.pod import Pod, now_ms
from healthpod.share import links
from healthpod.store import notifications
from healthpod.store.observations import SampleFilter
from healthpod.store.person_data import for_owner

DAY = 86_400_000
VALUE = 187.25  # a measured value no message may carry
CODE, RECORD = "44054006", "Diabetes mellitus type 2"  # a diagnosis code and a record's name


class Inbox:
    """An SMTP server's mailbox: every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


def _smtp(port: int) -> tuple[Controller, Inbox]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, box


def _with_smtp(pod: Pod, port: int) -> Pod:
    settings = pod.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    )
    return Pod(settings=settings, engine=pod.engine)


def _in_thread(fn, *args, **kwargs):
    """asyncio.run (in aiosmtplib's sender) needs a thread with no running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


@pytest.fixture
def story(pod: Pod):
    """anna's pod with a heart rate and a diagnosis; a coach who reads it (first read), an app
    refused, a share link opened, erik acting for her, a consent ending in three days."""
    now = now_ms()
    engine = pod.engine
    anna = pod.person_id()
    erik = pod.person_id("erik")
    with engine.begin() as conn:
        accounts.create_account(conn, "anna", "long secret 1", person_id=anna, now_ms=now)
        accounts.create_account(conn, "erik", "long secret 1", person_id=erik, now_ms=now)
        add_sample(conn, anna, "heart_rate", now - DAY, VALUE)
        coach = actors.register(
            conn,
            name="Coach Anna",
            kind="coach",
            purpose="CAREMGT",
            redirect_uris=["https://coach.example/cb"],
            public=True,
            now_ms=now,
        ).actor.id
        app = actors.register(
            conn,
            name="Step App",
            kind="app",
            purpose="dpv:ServiceProvision",
            redirect_uris=["https://app.example/cb"],
            public=True,
            now_ms=now,
        ).actor.id
        consent_store.grant(
            conn,
            anna,
            coach,
            Scope(frozenset({"heart", "conditions"}), granularity=Granularity.RAW),
            valid_until_ms=now + 3 * DAY,
            now_ms=now,
        )
    with for_owner(engine, engine, anna).writer() as write:
        write.add_resource(
            {
                "resourceType": "Condition",
                "id": "cond-1",
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": CODE, "display": RECORD}
                    ],
                    "text": RECORD,
                },
                "subject": {"reference": "Patient/anna"},
            },
            provenance="professional",
            organisation="Vårdcentralen",
            now_ms=now,
        )
    data = access.open_for_actor(
        engine,
        engine,
        AccessRequest(anna, coach, Action.READ, frozenset({"heart", "conditions"})),
        event="fhir.search",
        now_ms=now + 1,
    )
    with data.reader() as read:  # the coach really reads the value and the diagnosis
        assert read.samples(SampleFilter(), after=None, limit=10)[0].value == VALUE
        assert read.search_resources("Condition").total == 1
    with pytest.raises(AccessDenied):
        access.open_for_actor(
            engine,
            engine,
            AccessRequest(anna, app, Action.READ, frozenset({"heart"})),
            event="fhir.search",
            now_ms=now + 2,
        )
    made = links.create(
        pod, anna, links.LinkRequest(frozenset({"heart"}), expires_ms=now + DAY), now_ms=now
    )
    opened = access.open_for_link(
        engine,
        engine,
        link_id=(anna, made.link.id),
        event="share_link.manifest",
        now_ms=now + 3,
    )
    assert opened.allowed
    delegates.add(engine, anna, "erik", role="view", until_ms=None, now_ms=now)
    access.open_for_delegate(
        engine,
        engine,
        delegate_id=erik,
        person_id=anna,
        action=DelegateAction.READ,
        event="web.read",
        now_ms=now + 4,
    )
    return anna, erik


def test_the_inbox_tells_each_kind_once(pod, story):
    anna, erik = story
    shown = inbox.show(pod.engine, anna, now_ms=now_ms())
    kinds = sorted(n.kind for n in shown.notifications)
    assert kinds == sorted(
        [
            notifications.CONSENT_NEW,
            notifications.FIRST_READ,
            notifications.ACCESS_REFUSED,
            notifications.LINK_OPENED,
            notifications.DELEGATE_ACTION,
            notifications.CONSENT_EXPIRING,
        ]
    )
    assert shown.unread == len(kinds)
    said = {texts.describe(n.kind, n.params) for n in shown.notifications}
    assert "Coach Anna read your data for the first time." in said
    assert "An access by Step App was refused." in said
    assert "erik acted for you (read)." in said
    swedish = {texts.describe(n.kind, n.params, "sv") for n in shown.notifications}
    assert "Coach Anna läste dina data för första gången." in swedish
    # A second look tells nothing twice; erik was told he may act for anna.
    assert len(inbox.show(pod.engine, anna, now_ms=now_ms()).notifications) == len(kinds)
    assert [n.kind for n in inbox.show(pod.engine, erik, now_ms=now_ms()).notifications] == [
        notifications.DELEGATION_GRANTED
    ]
    inbox.mark_read(pod.engine, anna, now_ms=now_ms())
    assert inbox.show(pod.engine, anna, now_ms=now_ms()).unread == 0


def test_a_digest_holds_no_health_data(pod, story, smtp_port):
    anna, erik = story
    for person in (anna, erik):
        inbox.set_digests(
            pod.engine,
            person,
            email=f"p{person}@example.org",
            digests=dict.fromkeys(notifications.KINDS, "daily"),
        )
    controller, box = _smtp(smtp_port)
    try:
        report = _in_thread(digest.send_digests, _with_smtp(pod, smtp_port), now_ms=now_ms())
    finally:
        controller.stop()
    assert report.sent == 2 and not report.failed
    assert len(box.messages) == 2
    for message in box.messages:
        for secret in (str(VALUE), "187", CODE, RECORD, "Diabetes", "heart_rate", "Vårdcentralen"):
            assert secret not in message, secret
        assert "/inbox" in message
    everything = "\n".join(box.messages)
    assert "Coach Anna: 1" in everything and "Step App: 1" in everything


def test_an_smtp_server_that_is_down_loses_nothing(pod, story, smtp_port):
    anna, _ = story
    inbox.set_digests(
        pod.engine,
        anna,
        email="anna@example.org",
        digests=dict.fromkeys(notifications.KINDS, "weekly"),
    )
    down = _with_smtp(pod, smtp_port)  # nothing listens there yet
    sender = digest.smtp_sender(down, attempts=2, wait_s=0.01)
    failed = _in_thread(digest.send_digests, down, now_ms=now_ms(), send=sender)
    assert failed.sent == 0 and len(failed.failed) == 1
    with pod.engine.connect() as conn:
        waiting = notifications.not_emailed(conn, anna, frozenset(notifications.KINDS))
        assert notifications.prefs(conn, anna).weekly_sent_ms is None
    assert len(waiting) == 6
    controller, box = _smtp(smtp_port)
    try:
        sent = _in_thread(digest.send_digests, down, now_ms=now_ms())
        again = _in_thread(digest.send_digests, down, now_ms=now_ms())
    finally:
        controller.stop()
    assert (sent.sent, sent.notifications) == (1, 6)
    assert again.sent == 0  # weekly: not due again, and nothing new
    assert len(box.messages) == 1


def test_a_guardianship_that_ends_by_age_tells_both(pod):
    now = now_ms()
    lisa, mamma = pod.person_id("lisa"), pod.person_id("mamma")
    with pod.engine.begin() as conn:
        accounts.create_account(conn, "mamma", "long secret 1", person_id=mamma, now_ms=now)
    born = datetime.fromtimestamp(now / 1000, UTC).date().replace(year=2015)
    if (born.month, born.day) == (2, 29):
        born = born.replace(day=28)
    birthday = datetime(born.year + 13, born.month, born.day, tzinfo=UTC)
    before = int(birthday.timestamp() * 1000) - DAY
    delegates.add(
        pod.engine,
        lisa,
        "mamma",
        role="manage",
        until_ms=None,
        now_ms=before,
        guardian=True,
        born=born,
    )
    assert inbox.end_guardianships(pod.engine, now_ms=before) == 0
    after = before + 2 * DAY
    assert inbox.end_guardianships(pod.engine, now_ms=after) == 2
    assert inbox.end_guardianships(pod.engine, now_ms=after) == 0
    for person in (lisa, mamma):
        kinds = [n.kind for n in inbox.show(pod.engine, person, now_ms=after).notifications]
        assert notifications.GUARDIANSHIP_ENDED in kinds


def test_send_digests_command(tmp_path, pod, story, smtp_port):
    anna, _ = story
    inbox.set_digests(
        pod.engine,
        anna,
        email="anna@example.org",
        digests=dict.fromkeys(notifications.KINDS, "daily"),
    )
    env = {
        "HEALTHPOD_SMTP_HOST": "127.0.0.1",
        "HEALTHPOD_SMTP_PORT": str(smtp_port),
        "HEALTHPOD_SMTP_TIMEOUT_S": "2",
    }
    args = [
        "--home",
        str(pod.settings.home),
        "--database-url",
        pod.settings.effective_database_url,
        "notify",
        "send-digests",
        "--json",
    ]

    def run():
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)

    start = time.monotonic()
    down = _in_thread(run)
    assert down.exit_code == 1, down.output
    assert "sent in the next run" in down.stderr
    assert time.monotonic() - start < 30
    controller, box = _smtp(smtp_port)
    try:
        up = _in_thread(run)
    finally:
        controller.stop()
    assert up.exit_code == 0, up.output
    assert len(box.messages) == 1
    no_smtp = CliRunner().invoke(cli, [*args[:-2], "send-digests"], catch_exceptions=False)
    assert no_smtp.exit_code == 2 and "HEALTHPOD_SMTP_HOST" in no_smtp.stderr
