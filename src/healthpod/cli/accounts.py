"""`healthpod account create|list`: logins for the people of this pod."""

from __future__ import annotations

import sys

import click

from healthpod import accounts as accounts_
from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.errors import InvalidRequest
from healthpod.pod import DEFAULT_PERSON, Pod, now_ms


@click.group(name="account")
def account() -> None:
    """Logins (username and password) of the people in this pod."""


@account.command()
@click.argument("username")
@click.option(
    "--person",
    default=DEFAULT_PERSON,
    show_default=True,
    help="The person whose data this login opens (created if new).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@json_option
@pass_pod
def create(pod: Pod, username: str, person: str, password_stdin: bool, as_json: bool) -> None:
    """Create a login for a person.

    \b
        healthpod account create alice
        printf '%s\\n' "$PASSWORD" | healthpod account create alice --password-stdin
    """
    password = _read_password(password_stdin)
    accounts_.check_password(password)
    with pod.engine.begin() as conn:
        person_id = pod.person_id(person, connection=conn)
        created = accounts_.create_account(
            conn, username, password, person_id=person_id, now_ms=now_ms()
        )
    if as_json:
        echo_json(created.as_json())
    else:
        click.echo(f"Account {created.username!r} created for person {person!r}.")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidRequest(
                "No password on standard input.", hint="Pipe the password in, one line."
            )
        return password
    entered: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@account.command()
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@pass_pod
def password(pod: Pod, username: str, password_stdin: bool) -> None:
    """Set a new password for a login; every session of it ends.

    \b
        healthpod account password alice
    """
    new = _read_password(password_stdin)
    with pod.engine.begin() as conn:
        found = accounts_.find_account(conn, username)
        accounts_.set_password(conn, found.person_id, new, now_ms=now_ms())
    click.echo(f"New password set for {found.username!r}; its sessions have ended.")


@account.command()
@click.argument("username")
@pass_pod
def disable(pod: Pod, username: str) -> None:
    """Disable a login: it can no longer log in and its sessions end at once."""
    with pod.engine.begin() as conn:
        found = accounts_.find_account(conn, username)
        accounts_.disable_account(conn, found.person_id, now_ms=now_ms())
    click.echo(f"Disabled the login {found.username!r}.")


@account.command()
@click.argument("username")
@click.option("--off", is_flag=True, help="Take the operator role away again.")
@pass_pod
def operator(pod: Pod, username: str, off: bool) -> None:
    """Make a login the pod's operator: it may run research studies in the web app
    (/operator: create, open and close studies, as `healthpod study` does).

    \b
        healthpod account operator alice
        healthpod account operator alice --off
    """
    with pod.engine.begin() as conn:
        found = accounts_.find_account(conn, username)
        accounts_.set_operator(conn, found.person_id, not off, now_ms=now_ms())
    if off:
        click.echo(f"{found.username!r} is no longer the pod's operator.")
    else:
        click.echo(f"{found.username!r} is now the pod's operator (the page /operator).")


@account.command(name="list")
@json_option
@pass_pod
def list_(pod: Pod, as_json: bool) -> None:
    """List the logins (never the passwords)."""
    with pod.engine.connect() as conn:
        found = accounts_.list_accounts(conn)
    if as_json:
        echo_json([a.as_json() for a in found])
        return
    if not found:
        click.echo("No accounts yet. Create one with `healthpod account create USERNAME`.")
    for a in found:
        state = " (disabled)" if a.disabled_ms is not None else ""
        state += " (operator)" if a.operator else ""
        click.echo(f"{a.username}  person {a.person_id}{state}")


COMMANDS = [account]
