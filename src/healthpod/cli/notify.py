"""`healthpod notify list|send-digests`: your inbox, and the email digests a scheduler sends."""

from __future__ import annotations

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person, person_option
from healthpod.notify import digest, inbox, texts
from healthpod.pod import Pod, now_ms


@click.group(name="notify")
def notify() -> None:
    """Notifications: your inbox, and email digests."""


@notify.command(name="list")
@person_option
@json_option
@pass_pod
def list_(pod: Pod, person: str, as_json: bool) -> None:
    """Show your newest notifications (what the web app's inbox shows)."""
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        found = inbox.Inbox([], 0)
    else:
        found = inbox.show(
            pod.engine, person_id, now_ms=now_ms(), age_limit=pod.settings.guardian_age_limit
        )
    if as_json:
        echo_json([n.as_json() for n in found.notifications])
        return
    if not found.notifications:
        click.echo("No notifications.")
    for n in found.notifications:
        click.echo(texts.describe(n.kind, n.params))


@notify.command(name="send-digests")
@json_option
@pass_pod
def send_digests(pod: Pod, as_json: bool) -> None:
    """Send the email digests that are due (run it hourly from a scheduler).

    A digest that the SMTP server did not take is sent in the next run: nothing is lost.
    Exits 1 when any digest failed.
    """
    report = digest.send_digests(pod, now_ms=now_ms())
    if as_json:
        echo_json(report.as_json())
    else:
        click.echo(
            f"Sent {report.sent} digest{'' if report.sent == 1 else 's'} "
            f"({report.notifications} notifications)."
        )
    if report.failed:
        click.secho(
            f"Error: {len(report.failed)} digest(s) could not be sent: {'; '.join(report.failed)}.",
            fg="red",
            err=True,
        )
        click.echo(
            "They are sent in the next run; check HEALTHPOD_SMTP_HOST and the server.", err=True
        )
        raise click.exceptions.Exit(1)


COMMANDS = [notify]
