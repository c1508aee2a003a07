"""`healthpod log`, `healthpod log verify` and `healthpod log history`: every access to your
data, its integrity, and the history you brought from a pod you moved from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from healthpod.cli import CliState, echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person, person_option
from healthpod.consent import actors, audit
from healthpod.pod import Pod
from healthpod.store import persons


@click.group(name="log", invoke_without_command=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="Entries.")
@person_option
@json_option
@click.pass_context
def log(ctx: click.Context, limit: int, person: str, as_json: bool) -> None:
    """Show the access log, newest first: every request by an actor, token and consent change.

    \b
        healthpod log
        healthpod log --json --limit 1000
        healthpod log verify
        healthpod log history
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    _show(state.pod(), limit, person, as_json)


def _show(pod: Pod, limit: int, person: str, as_json: bool) -> None:
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
        entries = (
            []
            if person_id is None  # an empty pod: nothing logged yet
            else audit.entries(conn, person_id, newest_first=True, limit=limit)
        )
        names = {a.id: a.name for a in actors.list_actors(conn)}
    if as_json:
        echo_json([e.as_json() for e in entries])
        return
    if not entries:
        click.echo("Nothing in the access log yet.")
    for e in entries:
        when = datetime.fromtimestamp(e.at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        # The person's own acts are theirs, even when they concern an actor (a revocation).
        actor = names.get(e.actor_id, f"actor {e.actor_id}") if e.actor_id is not None else ""
        who, reason = (actor or "you"), e.reason
        if e.by_person:
            who, reason = "you", f"{reason} ({actor})" if actor else reason
        if e.refers_to is not None:
            reason = f"{reason} (for entry {e.refers_to})"
        sent = e.details.get("returned")
        if isinstance(sent, dict):
            reason = f"{reason}; returned {sent.get('count', 0)}"
        click.echo(f"{e.seq:>6}  {when}Z  {who[:20]:<20} {e.event:<18} {e.outcome:<8} {reason}")


@log.command()
@click.option("--all", "all_", is_flag=True, help="Check every person's log (for operators).")
@person_option
@json_option
@pass_pod
def verify(pod: Pod, all_: bool, person: str, as_json: bool) -> None:
    """Check the hash chain; name the first broken entry. Exits 1 when the log is broken."""
    with pod.engine.connect() as conn:
        people: list[tuple[int | None, str]] = (
            list(persons.everyone(conn)) if all_ else [(find_person(conn, person), person)]
        )
        results = [
            (
                name,
                audit.Verification(True, 0) if person_id is None else audit.verify(conn, person_id),
            )
            for person_id, name in people
        ]
    broken = [r for _, r in results if not r.ok]
    if as_json:
        echo_json(
            [
                {
                    "person": name,
                    "ok": r.ok,
                    "entries": r.entries,
                    "first_broken_seq": r.first_broken_seq,
                    "first_broken_id": r.first_broken_id,
                    "problem": r.problem,
                }
                for name, r in results
            ]
        )
    else:
        if not results:  # --all on an empty pod
            click.echo("No access log yet: nobody's data is in this pod.")
        for name, r in results:
            click.echo(f"{name}: {r.summary()}" if all_ else r.summary())
    if broken:
        raise click.exceptions.Exit(1)


@log.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="Entries.")
@person_option
@json_option
@pass_pod
def history(pod: Pod, limit: int, person: str, as_json: bool) -> None:
    """Show the history from your previous pod: its access log and consents (read-only).

    What an export brought along when you moved (`healthpod import` of a `healthpod export`):
    who saw what there, and the consents you had given. They are a record, not grants: no one
    reaches this pod through them.
    """
    from healthpod.store.person_data import for_owner

    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is None:
        found = None
    else:
        with for_owner(pod.engine, pod.reads, person_id).reader() as read:
            found = read.previous_pod()
    if as_json:
        shown: dict[str, Any] = {"access_log": [], "access_log_total": 0, "consents": []}
        if found is not None:
            shown = found.as_json()
            shown["access_log"] = shown["access_log"][:limit]
        echo_json(shown)
        return
    if found is None or not found.any:
        click.echo("No history from a previous pod.")
        return
    for c in found.consents:
        categories = ", ".join(c.categories) or "-"
        click.echo(f"consent {c.id:<4} {(c.actor or '')[:20]:<20} {c.status:<9} {categories}")
    click.echo(f"access log: the newest {min(limit, len(found.entries))} of {found.total_entries}")
    for e in found.entries[:limit]:
        when = datetime.fromtimestamp(e.at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        who = "you" if e.done_by == "person" else (e.actor or "")
        click.echo(f"{e.seq:>6}  {when}Z  {who[:20]:<20} {e.event:<18} {e.outcome:<8} {e.reason}")


COMMANDS = [log]
