"""`healthpod data`: what the person keeps to themselves ("only me") and what they correct
(items marked wrong)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person
from healthpod.consent import audit
from healthpod.errors import InvalidRequest, NotFound
from healthpod.insights import corrections, notes
from healthpod.pod import DEFAULT_PERSON, Pod, now_ms
from healthpod.store import data_items
from healthpod.store.data_items import Bound
from healthpod.store.marked_wrong import parse_moment
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
    """Keep single records or whole types to yourself ("only me"); mark items wrong."""


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


# --- marked wrong -----------------------------------------------------------------------------

from_option = click.option(
    "--from",
    "from_",
    metavar="DATE",
    help="From this date or time on (2024-05-03, 2024-05-03T14:00); without an offset "
    "it is each item's own local time.",
)
to_option = click.option(
    "--to", "to", metavar="DATE", help="Up to this time (a date: up to the end of that day)."
)


def _bounds(from_: str | None, to: str | None) -> tuple[Bound | None, Bound | None]:
    """Raises: InvalidRequest: not a date, or the span ends before it starts."""
    low = None if from_ is None else Bound(*parse_moment(from_, end=False))
    high = None if to is None else Bound(*parse_moment(to, end=True))
    data_items.check_span(low, high)
    return low, high


def _iso(ms: int | None, offset_min: int) -> str | None:
    if ms is None:
        return None
    zone = timezone(timedelta(minutes=offset_min))
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).isoformat()


def _item_json(item: data_items.Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "start": _iso(item.start_ms, item.start_offset_min),
        "end": _iso(item.end_ms, item.end_offset_min),
        "value": item.value,
        "unit": item.unit,
        "source": item.source,
        "wrong": item.wrong,
    }


@data.command(name="list")
@click.option("--type", "type_", required=True, metavar="TYPE", help="steps, heart_rate, "
              "blood_pressure, workout, Condition, …")  # fmt: skip
@from_option
@to_option
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1), help="At most.")
@json_option
@person_option
@pass_pod
def list_(
    pod: Pod,
    type_: str,
    from_: str | None,
    to: str | None,
    limit: int,
    as_json: bool,
    person: str,
) -> None:
    """List single items of one type with their ids, oldest first, to mark or delete them.

    \b
        healthpod data list --type steps --from 2024-05-03 --to 2024-05-03 --json
    """
    low, high = _bounds(from_, to)
    with _own(pod, person) as write:
        found = data_items.items(write, type_, low, high, limit=limit + 1)
    shown = [_item_json(i) for i in found[:limit]]
    if as_json:
        echo_json({"items": shown, "truncated": len(found) > limit})
        return
    if not shown:
        click.echo("Nothing of that type in that time.")
    for item in shown:
        value = item["value"] if item["unit"] is None else f"{item['value']} {item['unit']}"
        mark = "" if item["wrong"] is None else f"  [marked wrong: {item['wrong'] or '-'}]"
        click.echo(f"{item['id']:<14} {item['start']}  {value}  {item['source'] or ''}{mark}")
    if len(found) > limit:
        click.echo(f"(only the first {limit}; narrow --from/--to or raise --limit)")


def _wrong_targets(
    write: Writer,
    ids: tuple[str, ...],
    type_: str | None,
    from_: str | None,
    to: str | None,
    verb: str,
) -> list[str]:
    """The ids named, or the items of a type in a span.

    Raises:
        InvalidRequest: neither or both given, or a bad span.
    """
    if bool(ids) == (type_ is not None):
        raise InvalidRequest(
            f"Name what to {verb}: ids, or a span of one type with --type, --from and --to.",
            hint=f"For example `healthpod data {verb} q-123` or `healthpod data {verb} "
            "--type steps --from 2024-05-03T14:00 --to 2024-05-03T15:10`.",
        )
    if type_ is None:
        if from_ is not None or to is not None:
            raise InvalidRequest(
                "--from and --to go with --type.", hint="Give the ids alone, or a span."
            )
        return list(dict.fromkeys(ids))
    low, high = _bounds(from_, to)
    return corrections.span(write, type_, low, high)


@data.command(name="mark-wrong")
@click.argument("ids", nargs=-1, metavar="ID...")
@click.option("--type", "type_", metavar="TYPE", help="Every item of this type in the span.")
@from_option
@to_option
@click.option("--reason", metavar="TEXT", help="Why it is wrong (kept with the mark).")
@person_option
@pass_pod
def mark_wrong(
    pod: Pod,
    ids: tuple[str, ...],
    type_: str | None,
    from_: str | None,
    to: str | None,
    reason: str | None,
    person: str,
) -> None:
    """Mark items wrong: they stay in your pod but are left out of statistics, findings and
    everything you share. Undo with `healthpod data unmark`.

    IDs are as `healthpod data list` shows them: q-123, c-5, bp-7, w-9, Condition/abc.

    \b
        healthpod data mark-wrong q-123 --reason "my child on the scale"
        healthpod data mark-wrong --type steps --from 2024-05-03T14:00 --to 2024-05-03T15:10
    """
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        targets = _wrong_targets(write, ids, type_, from_, to, "mark-wrong")
        if not targets:
            raise NotFound(
                f"There is no {type_} in that span.",
                hint="`healthpod data list --type TYPE --from … --to …` shows what there is.",
            )
        change = corrections.mark_wrong(write, targets, reason, now_ms=now)
        if change.targets:
            audit.record(
                write.conn,
                write.person_id,
                None,
                "mark-wrong",
                "ok",
                {"targets": change.targets},
                now_ms=now,
                reason="you marked data as wrong",
            )
    for target in change.targets:
        click.echo(f"{target}: marked wrong (left out of statistics and sharing)")
    for target in change.unchanged:
        click.echo(f"{target}: already marked wrong")


@data.command(name="unmark")
@click.argument("ids", nargs=-1, metavar="ID...")
@click.option("--type", "type_", metavar="TYPE", help="Every marked item of this type in the span.")
@from_option
@to_option
@person_option
@pass_pod
def unmark(
    pod: Pod,
    ids: tuple[str, ...],
    type_: str | None,
    from_: str | None,
    to: str | None,
    person: str,
) -> None:
    """Take the "wrong" mark off items: they count and are shared again.

    \b
        healthpod data unmark q-123
        healthpod data unmark --type steps --from 2024-05-03T14:00 --to 2024-05-03T15:10
    """
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        targets = _wrong_targets(write, ids, type_, from_, to, "unmark")
        if type_ is not None:
            marked = {m.target for m in write.marked_wrong()}
            targets = [t for t in targets if t in marked]
            if not targets:
                raise NotFound(
                    f"Nothing of type {type_} in that span is marked wrong.",
                    hint="`healthpod data wrong` lists what is.",
                )
        change = corrections.unmark(write, targets)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "unmark-wrong",
            "ok",
            {"targets": change.targets},
            now_ms=now,
            reason="you took the 'wrong' mark off data",
        )
    for target in change.targets:
        click.echo(f"{target}: counted and shared again")


@data.command(name="wrong")
@json_option
@person_option
@pass_pod
def wrong(pod: Pod, as_json: bool, person: str) -> None:
    """List what you marked wrong, newest first.

    \b
        healthpod data wrong --json
    """
    with _own(pod, person) as write:
        listed = write.marked_wrong()
    if as_json:
        echo_json({"items": [m.as_json() for m in listed]})
        return
    if not listed:
        click.echo("Nothing is marked wrong.")
    for m in listed:
        click.echo(f"{m.target:<20} {m.reason or ''}")


# --- deleting ---------------------------------------------------------------------------------


def _what(gone_rows: dict[str, int]) -> str:
    names = {"q": "measurements", "c": "category samples", "bp": "blood pressures",
             "w": "workouts", "r": "records", "a": "activity summaries",
             "moved": "moved history rows"}  # fmt: skip
    return ", ".join(f"{n} {names.get(k, k)}" for k, n in sorted(gone_rows.items())) or "nothing"


@data.command(name="delete")
@click.argument("ids", nargs=-1, metavar="ID...")
@click.option("--import", "import_id", type=int, metavar="N", help="A whole import (its id "
              "as `healthpod imports` shows it) with everything it added.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@person_option
@pass_pod
def delete(pod: Pod, ids: tuple[str, ...], import_id: int | None, yes: bool, person: str) -> None:
    """Delete single items, or a whole import with what it added. No row of them is left; a
    tombstone keeps an import of the same data from bringing them back until you lift it
    (`healthpod data tombstones`).

    \b
        healthpod data delete q-123 bp-7
        healthpod data delete --import 4 --yes
    """
    if bool(ids) == (import_id is not None):
        raise InvalidRequest(
            "Name what to delete: ids, or one import with --import.",
            hint="For example `healthpod data delete q-123` or `healthpod data delete --import 4`.",
        )
    named = f"import {import_id} and everything it added" if ids == () else ", ".join(ids)
    if not yes and not click.confirm(f"Delete {named}? This cannot be undone.", default=False):
        click.echo("Nothing was deleted.")
        return
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        if import_id is not None:
            gone = corrections.delete_import(write, import_id, now_ms=now)
        else:
            gone = corrections.delete_items(write, list(dict.fromkeys(ids)), now_ms=now)
        audit.record(
            write.conn,
            write.person_id,
            None,
            "delete",
            "ok",
            {"targets": gone.targets, "rows": gone.rows},
            now_ms=now,
            reason="you deleted data",
        )
    click.echo(f"Deleted {', '.join(gone.targets)}: {_what(gone.rows)}.")


@data.command(name="tombstones")
@json_option
@person_option
@pass_pod
def tombstones(pod: Pod, as_json: bool, person: str) -> None:
    """List what you deleted and imports keep deleted, newest first.

    \b
        healthpod data tombstones --json
    """
    with _own(pod, person) as write:
        listed = write.tombstones()
    if as_json:
        echo_json({"items": [t.as_json() for t in listed]})
        return
    if not listed:
        click.echo("Nothing deleted is kept from imports.")
    for t in listed:
        when = _iso(t.start_ms, 0) or t.text or ""
        click.echo(f"{t.id:>6}  {t.code:<24} {when:<26} (was {t.target})")


@data.command(name="lift-tombstones")
@click.argument("ids", nargs=-1, type=int, metavar="ID...")
@click.option("--all", "all_", is_flag=True, help="Every tombstone.")
@person_option
@pass_pod
def lift_tombstones(pod: Pod, ids: tuple[int, ...], all_: bool, person: str) -> None:
    """Lift tombstones: importing the same data again brings it back.

    \b
        healthpod data lift-tombstones 12 13
        healthpod data lift-tombstones --all
    """
    if bool(ids) == all_:
        raise InvalidRequest(
            "Name the tombstones to lift, or --all.",
            hint="`healthpod data tombstones` lists them with their ids.",
        )
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        lifted = write.lift_tombstones(None if all_ else list(ids))
        audit.record(
            write.conn,
            write.person_id,
            None,
            "lift-tombstones",
            "ok",
            {"tombstones": "all" if all_ else list(ids), "lifted": lifted},
            now_ms=now,
            reason="you let imports bring deleted data back",
        )
    click.echo(f"Lifted {lifted} tombstones: importing that data again brings it back.")


# --- the person's own notes -------------------------------------------------------------------


@data.command(name="note")
@click.argument("text")
@click.option("--symptom", is_flag=True, help="A symptom (a FHIR Condition), not a note.")
@click.option("--about", metavar="ID", help="The value the note is about (q-123, bp-7, …).")
@click.option("--when", metavar="DATE", help="When (2024-05-03T14:00+02:00); default now.")
@json_option
@person_option
@pass_pod
def note(
    pod: Pod,
    text: str,
    symptom: bool,
    about: str | None,
    when: str | None,
    as_json: bool,
    person: str,
) -> None:
    """Add your own note or symptom, with you as its author. It is shared like any record of
    its category: a symptom under conditions, a note under other records.

    \b
        healthpod data note "Headache after the run" --symptom --when 2024-05-03T18:00+02:00
        healthpod data note "Measured right after coffee" --about q-123
    """
    now = now_ms()
    with _own(pod, person) as write:
        audit.lock_chain(write.conn, write.person_id)
        stored = notes.add(
            write, text, kind="symptom" if symptom else "note", about=about, when=when, now_ms=now
        )
        target = f"{stored['resourceType']}/{stored['id']}"
        audit.record(
            write.conn,
            write.person_id,
            None,
            "note",
            "ok",
            {"targets": [target]},
            now_ms=now,
            reason="you added a note",
        )
    if as_json:
        echo_json(stored)
        return
    click.echo(f"{target}: added")


COMMANDS = [data]
