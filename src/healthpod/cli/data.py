"""`healthpod data`: what the person keeps to themselves ("only me")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person
from healthpod.consent import audit
from healthpod.errors import InvalidRequest, NotFound
from healthpod.pod import DEFAULT_PERSON, Pod, now_ms
from healthpod.store.person_data import Writer, for_owner

person_option = click.option(
    "--person", default=DEFAULT_PERSON, show_default=True, help="Whose data (as imported)."
)
type_option = click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TYPE",
    help="A whole type: a sample type (step_count) or a record type (Condition). Repeatable.",
)


@click.group(name="data")
def data() -> None:
    """Keep single records or whole types to yourself ("only me")."""


@contextmanager
def _own(pod: Pod, name: str) -> Iterator[Writer]:
    """The person's own door, in one transaction.

    Raises:
        NotFound: nothing is stored for that person.
    """
    with pod.engine.connect() as conn:
        found = find_person(conn, name)
    if found is None:
        raise NotFound(
            "There is no data in this pod yet.",
            hint="Import some with `healthpod import FILE`.",
        )
    with for_owner(pod.engine, pod.reads, found).writer() as write:
        yield write


def _targets(types: tuple[str, ...], ids: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Raises: InvalidRequest: neither a type nor an id was given."""
    if not types and not ids:
        raise InvalidRequest(
            "Name what to restrict: record ids, or a whole type with --type.",
            hint="For example `healthpod data restrict q-123 Condition/abc` or "
            "`healthpod data restrict --type Condition`.",
        )
    return list(dict.fromkeys(types)), list(dict.fromkeys(ids))


@data.command(name="restrict")
@click.argument("ids", nargs=-1, metavar="ID...")
@type_option
@person_option
@pass_pod
def restrict(pod: Pod, ids: tuple[str, ...], types: tuple[str, ...], person: str) -> None:
    """Mark records or whole types "only me": no consent, share link, delegate or study
    ever sees them, whatever categories it holds. You still see everything.

    IDs are as the FHIR API shows them: q-123, c-5, bp-7, or Condition/abc.

    \b
        healthpod data restrict Condition/abc q-123
        healthpod data restrict --type Condition
    """
    wanted_types, wanted_ids = _targets(types, ids)
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        added = write.restrict(wanted_types, wanted_ids, now_ms=now)
        if added:
            audit.record(
                write.conn,
                write.person_id,
                None,
                "restrict",
                "ok",
                {"targets": added},
                now_ms=now,
                reason="you marked data as only yours",
            )
    for target in [*wanted_types, *wanted_ids]:
        state = "restricted" if target in added else "already restricted"
        click.echo(f"{target}: {state} (only you see it)")


@data.command(name="unrestrict")
@click.argument("ids", nargs=-1, metavar="ID...")
@type_option
@person_option
@pass_pod
def unrestrict(pod: Pod, ids: tuple[str, ...], types: tuple[str, ...], person: str) -> None:
    """Lift "only me": the records and types are shared again as your consents say.

    \b
        healthpod data unrestrict Condition/abc
        healthpod data unrestrict --type Condition
    """
    wanted_types, wanted_ids = _targets(types, ids)
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        lifted = write.unrestrict(wanted_types, wanted_ids)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "unrestrict",
            "ok",
            {"targets": lifted},
            now_ms=now,
            reason="you lifted 'only me' from data",
        )
    for target in lifted:
        click.echo(f"{target}: shared again as your consents say")


@data.command(name="restrictions")
@json_option
@person_option
@pass_pod
def restrictions(pod: Pod, as_json: bool, person: str) -> None:
    """List what you marked "only me".

    \b
        healthpod data restrictions --json
    """
    with pod.engine.connect() as conn:
        found = find_person(conn, person)
    listed = []
    if found is not None:
        with for_owner(pod.engine, pod.reads, found).reader() as read:
            listed = read.restricted()
    if as_json:
        echo_json({"items": [r.as_json() for r in listed]})
        return
    if not listed:
        click.echo("Nothing is marked 'only me'.")
    for r in listed:
        click.echo(f"{r.level:<7} {r.target}")


COMMANDS = [data]
