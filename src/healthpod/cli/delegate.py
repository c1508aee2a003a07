"""`healthpod delegate add|list|revoke`: let another account act for you (or a guardian)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person, person_option
from healthpod.consent import delegates
from healthpod.consent.model import format_day
from healthpod.errors import InvalidRequest, NotFound
from healthpod.pod import Pod, now_ms


def _day(text: str, option: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidRequest(
            f"{option} {text[:40]!r} is not a date.", hint="Give the day as YYYY-MM-DD."
        ) from None


def _until_ms(text: str | None) -> int | None:
    """--until DATE: the delegation works through that day (UTC), so it ends at the next."""
    if text is None:
        return None
    day = datetime.combine(_day(text, "--until"), datetime.min.time(), tzinfo=UTC)
    return int((day + timedelta(days=1)).timestamp() * 1000)


@click.group(name="delegate")
def delegate() -> None:
    """Let another account act for you (a delegate), or a guardian for a child."""


@delegate.command()
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["view", "manage"]),
    default="view",
    show_default=True,
    help="view: read your data; manage: also import and manage sharing.",
)
@click.option("--until", metavar="DATE", help="The last day it works (YYYY-MM-DD).")
@click.option("--guardian", is_flag=True, help="USERNAME is the guardian of this person, a child.")
@click.option("--born", metavar="DATE", help="The child's birth date, if the pod lacks it.")
@person_option
@json_option
@pass_pod
def add(
    pod: Pod,
    username: str,
    role: str,
    until: str | None,
    guardian: bool,
    born: str | None,
    person: str,
    as_json: bool,
) -> None:
    """Let the account USERNAME act for you; it never delegates further.

    \b
        healthpod delegate add erik --role view --until 2027-06-30
        healthpod delegate add mamma --role manage --guardian --born 2019-04-02 --person lisa
    """
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        person_id = pod.person_id(person)
    made = delegates.add(
        pod.engine,
        person_id,
        username,
        role=role,
        until_ms=_until_ms(until),
        now_ms=now_ms(),
        guardian=guardian,
        born=_day(born, "--born") if born else None,
        age_limit=pod.settings.guardian_age_limit,
    )
    if as_json:
        echo_json(made.as_json())
        return
    what = "guardian" if guardian else role
    ends = f", last day {format_day(made.ends_ms - 1)}" if made.ends_ms is not None else ""
    click.echo(f"Delegation {made.delegation.id}: {made.other.shown_name} ({what}){ends}.")


@delegate.command(name="list")
@person_option
@json_option
@pass_pod
def list_(pod: Pod, person: str, as_json: bool) -> None:
    """List who may act for you, and for whom you may act."""
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
        found = (
            []
            if person_id is None
            else delegates.listing(
                conn, person_id, now_ms=now_ms(), age_limit=pod.settings.guardian_age_limit
            )
        )
    if as_json:
        echo_json([v.as_json() for v in found])
        return
    if not found:
        click.echo("Nobody acts for you, and you act for nobody.")
    for v in found:
        d = v.delegation
        arrow = (
            f"{v.other.shown_name} acts for you" if v.given else f"you act for {v.other.shown_name}"
        )
        ends = f"  last day {format_day(v.ends_ms - 1)}" if v.ends_ms is not None else ""
        click.echo(f"{d.id}  {v.state.value}  {d.kind} ({d.role})  {arrow}{ends}")


@delegate.command()
@click.argument("delegation_id", type=int)
@person_option
@pass_pod
def revoke(pod: Pod, delegation_id: int, person: str) -> None:
    """Revoke a delegation you gave: the delegate's next request is refused."""
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        raise NotFound(
            f"You gave no delegation with id {delegation_id}.",
            hint="See `healthpod delegate list`.",
        )
    delegates.revoke(pod.engine, person_id, delegation_id, now_ms=now_ms())
    click.echo(f"Revoked delegation {delegation_id}.")


COMMANDS = [delegate]
