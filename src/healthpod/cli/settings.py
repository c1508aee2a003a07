"""`healthpod settings`: what a person sets for their own data: their time zone and language."""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from healthpod.cli import CliState, echo_json, json_option, pass_pod
from healthpod.config import LANGUAGES
from healthpod.errors import InvalidRequest
from healthpod.pod import DEFAULT_PERSON

if TYPE_CHECKING:
    from healthpod.pod import Pod

person_option = click.option(
    "--person", default=DEFAULT_PERSON, show_default=True, help="Whose settings."
)
KEYS = ("timezone", "language")


class Zone(click.ParamType[ZoneInfo]):
    """An IANA time zone such as Europe/Stockholm; anything else is a usage error (exit 2)."""

    name = "zone"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> ZoneInfo:
        from healthpod.ingest.zones import parse_zone

        if isinstance(value, ZoneInfo):
            return value
        try:
            return parse_zone(str(value))
        except InvalidRequest as exc:
            self.fail(f"{exc.message} {exc.hint}", param, ctx)


ZONE = Zone()


def _zone(text: str) -> str:
    return ZONE.convert(text, None, None).key


def _language(text: str) -> str:
    """A language the web app and the digests speak (en, sv)."""
    if text not in LANGUAGES:
        raise click.BadParameter(f"{text!r} is not one of {', '.join(LANGUAGES)}.")
    return text


def _show(pod: Pod, person: str, as_json: bool) -> None:
    from healthpod.cli.consent import find_person
    from healthpod.store import person_settings
    from healthpod.store.person_data import for_owner

    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    zone = language = None
    if person_id is not None:
        with for_owner(pod.engine, pod.reads, person_id).reader() as read:
            zone = person_settings.time_zone_of(read)
            language = person_settings.language_of(read)
    if as_json:
        echo_json({"timezone": zone, "language": language})
        return
    if zone is None:
        click.echo(
            "timezone: not set (Fitbit and Google Fit times, which carry no zone, are stored "
            "at +00:00)"
        )
    else:
        click.echo(f"timezone: {zone}")
    click.echo(
        f"language: {language or f'not set (the pod default, {pod.settings.default_locale})'}"
    )


@click.group(invoke_without_command=True)
@person_option
@json_option
@click.pass_context
def settings(ctx: click.Context, person: str, as_json: bool) -> None:
    """Your settings, kept in the pod. Without a subcommand: show them.

    timezone: the IANA time zone in which to read sources that write times
    without one (Fitbit, Google Fit). Each time gets the zone's offset at that
    instant, summer time included. `healthpod import --tz` overrides it for
    one import. It applies to imports from now on.

    language: en or sv, for the web app (after sign-in) and the email digests;
    the same setting the web app's language switch keeps.

    \b
        healthpod settings
        healthpod settings set timezone Europe/Stockholm
        healthpod settings set language sv
        healthpod settings unset timezone
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    _show(state.pod(), person, as_json)


@settings.command(name="set")
@click.argument("key", type=click.Choice(KEYS))
@click.argument("value")
@person_option
@pass_pod
def set_(pod: Pod, key: str, value: str, person: str) -> None:
    """Set KEY to VALUE: `timezone Europe/Stockholm`, `language sv`."""
    from healthpod.store import person_settings
    from healthpod.store.person_data import for_owner

    checked = _zone(value) if key == "timezone" else _language(value)
    person_id = pod.person_id(person)
    with for_owner(pod.engine, pod.reads, person_id).writer() as write:
        if key == "timezone":
            person_settings.set_time_zone_of(write, checked)
        else:
            person_settings.set_language_of(write, checked)
    click.echo(f"{key}: {checked}")


@settings.command()
@click.argument("key", type=click.Choice(KEYS))
@person_option
@pass_pod
def unset(pod: Pod, key: str, person: str) -> None:
    """Forget KEY: zone-less times are stored at +00:00 again; the pod's default language."""
    from healthpod.cli.consent import find_person
    from healthpod.store import person_settings
    from healthpod.store.person_data import for_owner

    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
    if person_id is not None:
        with for_owner(pod.engine, pod.reads, person_id).writer() as write:
            if key == "timezone":
                person_settings.set_time_zone_of(write, None)
            else:
                person_settings.set_language_of(write, None)
    click.echo(f"{key}: not set")


COMMANDS = [settings]
