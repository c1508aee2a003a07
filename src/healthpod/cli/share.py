"""`healthpod share link create|list|revoke`: SMART Health Links to show your data to someone."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person, person_option
from healthpod.consent.model import Granularity, format_day
from healthpod.errors import InvalidRequest, NotFound
from healthpod.pod import Pod, now_ms
from healthpod.share import links, qr

_DURATION = re.compile(r"^(\d{1,4})([hdw])$")
_UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def _duration_ms(text: str) -> int:
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidRequest(
            f"--expires {text[:40]!r} is not a duration.",
            hint="Give a number and a unit: 12h, 7d or 2w.",
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _day_ms(text: str | None, option: str, *, end: bool) -> int | None:
    """A day (YYYY-MM-DD) as UTC epoch ms: its start, or for --to the start of the next day."""
    if text is None:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(
            f"{option} {text[:40]!r} is not a date.", hint="Give the day as YYYY-MM-DD."
        ) from None
    if end:
        day += timedelta(days=1)
    return int(day.timestamp() * 1000)


@click.group(name="share")
def share() -> None:
    """Share your data with a person: SMART Health Links."""


@share.group(name="link")
def link() -> None:
    """SMART Health Links: make one, list them, revoke one."""


@link.command()
@click.option(
    "--categories", required=True, help="Comma list of data categories, e.g. heart,conditions."
)
@click.option("--from", "from_", metavar="DATE", help="Only data from this day (YYYY-MM-DD).")
@click.option("--to", metavar="DATE", help="Only data up to and including this day.")
@click.option("--expires", default="7d", show_default=True, help="How long the link works.")
@click.option("--passcode-stdin", is_flag=True, help="Read a passcode from stdin (flag P).")
@click.option("--label", help="A short description the recipient sees (at most 80 characters).")
@click.option("--raw", is_flag=True, help="Share every measurement, not daily summaries.")
@click.option("--long-term", is_flag=True, help="Flag L: the file follows your data.")
@click.option("--direct", is_flag=True, help="Flag U: the file by GET, no manifest.")
@click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write a QR code of the viewer link to this SVG file.",
)
@person_option
@json_option
@pass_pod
def create(
    pod: Pod,
    categories: str,
    from_: str | None,
    to: str | None,
    expires: str,
    passcode_stdin: bool,
    label: str | None,
    raw: bool,
    long_term: bool,
    direct: bool,
    qr_file: Path | None,
    person: str,
    as_json: bool,
) -> None:
    """Make a link; prints the shlink:/ payload once (it is kept nowhere)."""
    now = now_ms()
    passcode = None
    if passcode_stdin:
        passcode = sys.stdin.readline().rstrip("\r\n")
    asked = links.LinkRequest(
        categories=frozenset(c.strip() for c in categories.split(",") if c.strip()),
        expires_ms=now + _duration_ms(expires),
        data_from_ms=_day_ms(from_, "--from", end=False),
        data_to_ms=_day_ms(to, "--to", end=True),
        granularity=Granularity.RAW if raw else Granularity.DAILY,
        passcode=passcode,
        label=label,
        long_term=long_term,
        direct=direct,
    )
    links.check(asked, now)
    if qr_file is not None and not qr_file.resolve().parent.is_dir():
        raise InvalidRequest(
            f"--qr {qr_file}: the folder {qr_file.parent} does not exist.",
            hint="Give a file in a folder that exists; no link was made.",
        )
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        person_id = pod.person_id(person)
    made = links.create(pod, person_id, asked, now_ms=now)
    if qr_file is not None:
        try:
            qr.save_svg(made.viewer_url, str(qr_file))
        except OSError as exc:
            raise InvalidRequest(
                f"Could not write the QR code to {qr_file}: {exc.strerror}.",
                hint=f"The link is made (id {made.link.id}); revoke it or choose another --qr.",
            ) from None
    if as_json:
        echo_json(made.as_json())
        return
    click.echo(f"Share link {made.link.id}, until {made.as_json()['expires']}:")
    click.echo(made.shlink)
    click.echo(f"Viewer: {made.viewer_url}")


@link.command(name="list")
@person_option
@json_option
@pass_pod
def list_(pod: Pod, person: str, as_json: bool) -> None:
    """List your links (revoked and expired ones too); the links themselves are not kept."""
    now = now_ms()
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    found = [] if person_id is None else links.of_person(pod, person_id)
    if as_json:
        echo_json([f.as_json(now) for f in found])
        return
    if not found:
        click.echo("You have made no share links.")
    for f in found:
        click.echo(
            f"{f.id}  {f.state_at(now)}  until {format_day(f.expires_ms)}  "
            f"{','.join(sorted(f.categories))}  {f.label or ''}".rstrip()
        )


@link.command()
@click.argument("link_id", type=int)
@person_option
@pass_pod
def revoke(pod: Pod, link_id: int, person: str) -> None:
    """Revoke a link: its next request is refused and its file is deleted."""
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        raise NotFound(
            f"You have no share link with id {link_id}.", hint="See `healthpod share link list`."
        )
    links.revoke(pod, person_id, link_id, now_ms=now_ms())
    click.echo(f"Revoked share link {link_id}.")


COMMANDS = [share]
