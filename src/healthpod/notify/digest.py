"""Email digests: the notifications not yet sent, grouped, through SMTP (aiosmtplib).

    report = digest.send_digests(pod, now_ms=now)     # `healthpod notify send-digests`

Each person who gave an email address and has a kind set to `daily` or `weekly` gets one
message per due frequency: counts per kind and who acted (actors, links, delegates), and a
link to the inbox, in the person's language (the one they chose in the web app, else the pod's
default). Never health data. A digest is due when the last one of that frequency
was sent a day (a week) ago or never. A notification is marked sent only after the SMTP
server accepted the message, so a server that is down loses nothing: the same notifications
go in the next run's digest (the command exits 1 so a scheduler can retry it sooner).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiosmtplib

from healthpod.errors import ConfigError
from healthpod.notify import inbox, texts
from healthpod.store import notifications, person_settings
from healthpod.store.notifications import Notification, Prefs
from healthpod.store.person_data import for_owner

if TYPE_CHECKING:
    from healthpod.pod import Pod

logger = logging.getLogger(__name__)
PERIOD_MS = {"daily": 86_400_000, "weekly": 7 * 86_400_000}


@dataclass
class Report:
    sent: int = 0  # messages the server accepted
    notifications: int = 0  # notifications in them
    failed: list[str] = field(default_factory=list)  # "person 3 (daily): why"

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "notifications": self.notifications, "failed": self.failed}


Send = Callable[[EmailMessage], None]


def smtp_sender(pod: Pod, *, attempts: int = 3, wait_s: float = 1.0) -> Send:
    """Send through the SMTP server in the settings, trying `attempts` times.

    Raises:
        ConfigError: no SMTP server is configured (HEALTHPOD_SMTP_HOST).
    """
    settings = pod.settings
    if not settings.smtp_host:
        raise ConfigError(
            "No SMTP server is set, so no digest can be sent.",
            hint="Set HEALTHPOD_SMTP_HOST (and HEALTHPOD_SMTP_PORT, HEALTHPOD_SMTP_FROM).",
        )
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None

    def send(message: EmailMessage) -> None:
        for attempt in range(1, attempts + 1):
            try:
                asyncio.run(
                    aiosmtplib.send(
                        message,
                        hostname=settings.smtp_host,
                        port=settings.smtp_port,
                        username=settings.smtp_username,
                        password=password,
                        start_tls=settings.smtp_starttls,
                        timeout=settings.smtp_timeout_s,
                    )
                )
                return
            except (aiosmtplib.SMTPException, OSError):
                if attempt == attempts:
                    raise
                time.sleep(wait_s * attempt)

    return send


def send_digests(pod: Pod, *, now_ms: int, send: Send | None = None) -> Report:
    """Send every due digest; see the module docstring."""
    sender = send or smtp_sender(pod)
    age_limit = pod.settings.guardian_age_limit
    inbox.end_guardianships(pod.engine, now_ms=now_ms, age_limit=age_limit)
    report = Report()
    with pod.engine.connect() as conn:
        everyone = notifications.with_email(conn)
    for prefs in everyone:
        inbox.refresh(pod.engine, prefs.person_id, now_ms=now_ms, age_limit=age_limit)
        for frequency in ("daily", "weekly"):
            _one(pod, prefs, frequency, now_ms, sender, report)
    return report


def _one(pod: Pod, prefs: Prefs, frequency: str, now_ms: int, send: Send, report: Report) -> None:
    last = prefs.daily_sent_ms if frequency == "daily" else prefs.weekly_sent_ms
    if last is not None and now_ms - last < PERIOD_MS[frequency]:
        return
    kinds = frozenset(k for k in notifications.KINDS if prefs.frequency(k) == frequency)
    with pod.engine.connect() as conn:
        pending = notifications.not_emailed(conn, prefs.person_id, kinds)
    if not pending or prefs.email is None:
        return
    # The person's own language, as they chose it in the web app; else the pod's default.
    with for_owner(pod.engine, pod.reads, prefs.person_id).reader() as read:
        language = person_settings.language_of(read) or pod.settings.default_locale
    message = compose(
        pending,
        to=prefs.email,
        sender=pod.settings.smtp_from,
        inbox_url=f"{pod.settings.public_base_url}/inbox",
        frequency=frequency,
        language=language,
    )
    try:
        send(message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        logger.warning(
            "digest not sent person_id=%s frequency=%s error=%s",
            prefs.person_id,
            frequency,
            type(exc).__name__,
        )
        report.failed.append(f"person {prefs.person_id} ({frequency}): {type(exc).__name__}")
        return
    with pod.engine.begin() as conn:
        notifications.mark_emailed(conn, prefs.person_id, [p.id for p in pending], now_ms=now_ms)
        notifications.save_prefs(conn, prefs.person_id, **{f"{frequency}_sent_ms": now_ms})
    report.sent += 1
    report.notifications += len(pending)
    logger.info(
        "digest sent person_id=%s frequency=%s notifications=%d",
        prefs.person_id,
        frequency,
        len(pending),
    )


def compose(
    pending: Sequence[Notification],
    *,
    to: str,
    sender: str,
    inbox_url: str,
    frequency: str,
    language: str = "en",
) -> EmailMessage:
    """The digest message: per kind, how many and who; a link to the inbox. No health data."""
    sv = language == "sv"
    by_kind: dict[str, Counter[str]] = {}
    for item in pending:
        who = str(item.params.get("who") or item.params.get("person") or "")
        by_kind.setdefault(item.kind, Counter())[who] += 1
    lines = [
        ("Det här har hänt i din hälsopod:" if sv else "This happened in your health pod:"),
        "",
    ]
    for kind in notifications.KINDS:
        if kind not in by_kind:
            continue
        counts = by_kind[kind]
        lines.append(f"{texts.kind_name(kind, language)}: {sum(counts.values())}")
        for who, count in sorted(counts.items()):
            if who:
                lines.append(f"  - {who}: {count}")
    lines += [
        "",
        ("Se allt i din inkorg:" if sv else "See everything in your inbox:"),
        inbox_url,
    ]
    message = EmailMessage()
    total = len(pending)
    if sv:
        subject = f"healthpod: {total} nya händelser ({'dag' if frequency == 'daily' else 'vecka'})"
    else:
        subject = f"healthpod: {total} new notification{'' if total == 1 else 's'} ({frequency})"
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message.set_content("\n".join(lines) + "\n")
    return message
