"""`healthpod actor add|list|disable`: apps, coaches, clinics and researchers as OAuth2 clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.consent import actors as actors_
from healthpod.consent.purpose import PURPOSES
from healthpod.errors import InvalidRequest
from healthpod.pod import Pod, now_ms


@click.group(name="actor")
def actor() -> None:
    """Actors that may ask the person for access (OAuth2 clients)."""


@actor.command()
@click.option("--name", required=True, help="Shown to the person when the actor asks.")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([k.value for k in actors_.ActorKind]),
    help="What kind of actor this is.",
)
@click.option(
    "--purpose",
    required=True,
    type=click.Choice(list(PURPOSES), case_sensitive=False),
    help="Why it wants data: an HL7 v3 PurposeOfUse code or a W3C DPV purpose.",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    required=True,
    help="Where the authorization step may send the person back (exact match; repeatable).",
)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE only).")
@json_option
@pass_pod
def add(
    pod: Pod,
    name: str,
    kind: str,
    purpose: str,
    redirect_uris: tuple[str, ...],
    public: bool,
    as_json: bool,
) -> None:
    """Register an actor. A confidential client's secret is shown once, here, and never again.

    \b
        healthpod actor add --name "Coach Anna" --kind coach --purpose CAREMGT \\
            --redirect-uri https://coach.example/callback --json
    """
    with pod.engine.begin() as conn:
        registration = actors_.register(
            conn,
            name=name,
            kind=kind,
            purpose=purpose,
            redirect_uris=redirect_uris,
            public=public,
            now_ms=now_ms(),
        )
    found = registration.actor
    if as_json:
        document = {"client_id": found.client_id}
        if registration.client_secret is not None:
            document["client_secret"] = registration.client_secret
        echo_json(document)
        return
    click.echo(f"Registered {found.name!r} (id {found.id}).")
    click.echo(f"client_id:     {found.client_id}")
    if registration.client_secret is not None:
        click.echo(f"client_secret: {registration.client_secret}")
        click.echo("Store the secret now: it is kept only as a hash and cannot be shown again.")
    else:
        click.echo("A public client: no secret, it must use PKCE.")


@actor.command(name="add-backend")
@click.option("--name", required=True, help="The care provider, as the person sees it.")
@click.option(
    "--kind",
    default="clinic",
    show_default=True,
    type=click.Choice([k.value for k in actors_.ActorKind]),
    help="What kind of actor this is.",
)
@click.option(
    "--purpose",
    default="TREAT",
    show_default=True,
    type=click.Choice(list(PURPOSES), case_sensitive=False),
    help="Why it delivers data: an HL7 v3 PurposeOfUse code or a W3C DPV purpose.",
)
@click.option("--jwks-url", help="The https URL where the client publishes its public keys.")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the client's public keys (a JWKS), instead of --jwks-url.",
)
@json_option
@pass_pod
def add_backend(
    pod: Pod,
    name: str,
    kind: str,
    purpose: str,
    jwks_url: str | None,
    jwks_file: Path | None,
    as_json: bool,
) -> None:
    """Register a care provider's system as a backend client (SMART Backend Services).

    It gets tokens with a JWT signed by one of its keys and delivers records to
    POST /fhir/$deliver; each patient's records land only with a person who allowed it.

    \b
        healthpod actor add-backend --name "Region Clinic" \\
            --jwks-url https://clinic.example/.well-known/jwks.json --json
    """
    jwks: dict[str, Any] | None = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"{jwks_file} is not a JWKS in JSON: {exc}.") from exc
        if not isinstance(jwks, dict):
            raise InvalidRequest(f"{jwks_file} is not a JWKS (a JSON object with keys).")
    with pod.engine.begin() as conn:
        found = actors_.register_backend(
            conn,
            name=name,
            kind=kind,
            purpose=purpose,
            jwks_uri=jwks_url,
            jwks=jwks,
            now_ms=now_ms(),
        )
    if as_json:
        echo_json({"client_id": found.client_id})
        return
    click.echo(f"Registered {found.name!r} (id {found.id}) as a backend client.")
    click.echo(f"client_id:     {found.client_id}")


@actor.command(name="list")
@json_option
@pass_pod
def list_(pod: Pod, as_json: bool) -> None:
    """List the registered actors (never their secrets)."""
    with pod.engine.connect() as conn:
        found = actors_.list_actors(conn)
    if as_json:
        echo_json([a.as_json() for a in found])
        return
    if not found:
        click.echo("No actors yet. Register one with `healthpod actor add`.")
    for a in found:
        state = (
            "disabled"
            if a.disabled
            else "backend"
            if a.backend
            else "public"
            if a.public
            else "confidential"
        )
        purpose = a.coded_purpose
        click.echo(
            f"{a.id}  {a.name}  {a.kind.value}  {purpose.code} ({purpose.display})  "
            f"{state}  client_id {a.client_id}"
        )


@actor.command()
@click.argument("actor_ref", metavar="ACTOR")
@json_option
@pass_pod
def disable(pod: Pod, actor_ref: str, as_json: bool) -> None:
    """Disable an actor (by id or client id): its consents and tokens stop working at once."""
    with pod.engine.begin() as conn:
        found = actors_.find_actor(conn, actor_ref)
        disabled = actors_.disable(conn, found.id, now_ms=now_ms())
    if as_json:
        echo_json(disabled.as_json())
    else:
        click.echo(f"Disabled {disabled.name!r}: it can no longer read or write anything.")


COMMANDS = [actor]
