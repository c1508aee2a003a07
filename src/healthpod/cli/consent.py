"""`healthpod consent list|show|revoke`: who may see what of your data, and taking it back."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import Connection

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.consent import Consent, actors, store
from healthpod.consent.fhir_consent import consent_resource
from healthpod.consent.model import format_day
from healthpod.consent.purpose import describe
from healthpod.consent.receipt import build_receipt
from healthpod.errors import NotFound
from healthpod.pod import DEFAULT_PERSON, Pod, now_ms
from healthpod.research import studies
from healthpod.store import persons

person_option = click.option(
    "--person", default=DEFAULT_PERSON, show_default=True, help="Whose consents."
)


def find_person(conn: Connection, name: str) -> int | None:
    """The id of the person called `name` (never created here), or None for the pod's own
    person before anything was stored for them: an empty pod is a normal pod, not an error.

    Raises:
        NotFound: a person named with --person is not in this pod.
    """
    found = persons.find(conn, name)
    if found is not None:
        return found
    if name == DEFAULT_PERSON:
        return None
    raise NotFound(
        f"There is no person called {name!r} in this pod.",
        hint="Check the name given with --person; `healthpod imports` shows whose data is here.",
    )


def _no_consent(consent_id: int) -> NotFound:
    return NotFound(
        f"You have no consent with id {consent_id}.", hint="See `healthpod consent list`."
    )


def consent_document(conn: Connection, consent: Consent, now: int) -> dict[str, Any]:
    """A consent as the person's JSON shows it: the stored fields, its state and the actor."""
    actor = actors.get_actor(conn, consent.actor_id)
    purpose = describe(consent.purpose)
    return {
        **store.consent_json(consent),
        "state": consent.state_at(now).value,
        "summary": studies.consent_summary(conn, consent),
        "grouped_by": list(studies.grouping(conn, consent.person_id, consent.id)),
        "purpose": {
            "key": consent.purpose,
            "system": purpose.system,
            "code": purpose.code,
            "display": purpose.display,
        },
        "actor": {
            "id": actor.id,
            "name": actor.name,
            "kind": actor.kind.value,
            "client_id": actor.client_id,
            "disabled": actor.disabled,
        },
    }


@click.group(name="consent")
def consent() -> None:
    """Consents you gave: list, show (with receipts and as FHIR), revoke."""


@consent.command(name="list")
@person_option
@json_option
@pass_pod
def list_(pod: Pod, person: str, as_json: bool) -> None:
    """List every consent, newest first (revoked and expired ones too)."""
    now = now_ms()
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
        found = [] if person_id is None else store.list_consents(conn, person_id)
        documents = [consent_document(conn, c, now) for c in found]
    if as_json:
        echo_json(documents)
        return
    if not documents:
        click.echo("You have given no consents.")
    for d in documents:
        click.echo(f"{d['id']}  {d['actor']['name']}  {d['state']}  {d['summary']}")


@consent.command()
@click.argument("consent_id", type=int)
@click.option("--receipt", is_flag=True, help="Print the receipt of the latest version (JSON).")
@click.option("--fhir", is_flag=True, help="Print the consent as a FHIR R4 Consent (JSON).")
@person_option
@json_option
@pass_pod
def show(pod: Pod, consent_id: int, receipt: bool, fhir: bool, person: str, as_json: bool) -> None:
    """Show one consent with its history."""
    now = now_ms()
    base_url = pod.settings.public_base_url
    with pod.engine.connect() as conn:
        person_id = find_person(conn, person)
        if person_id is None:
            raise _no_consent(consent_id)
        found = store.get_consent(conn, person_id, consent_id)
        actor = actors.get_actor(conn, found.actor_id)
        history = store.changes(conn, person_id, consent_id)
        document = consent_document(conn, found, now)
        data_use = studies.data_use(conn, person_id, consent_id)
        grouping = studies.grouping(conn, person_id, consent_id)
    if receipt:
        echo_json(build_receipt(history[-1], actor, base_url=base_url, grouping=grouping))
        return
    if fhir:
        echo_json(consent_resource(found, actor, now_ms=now, data_use=data_use, grouping=grouping))
        return
    document["history"] = [
        {"version": h.version, "change": h.change, "at_ms": h.at_ms, "summary": h.consent.summary()}
        for h in history
    ]
    if as_json:
        echo_json(document)
        return
    purpose = document["purpose"]
    click.echo(f"Consent {found.id}: {actor.name} ({actor.kind.value}), {document['state']}")
    click.echo(f"  purpose:  {purpose['display']} ({purpose['code']})")
    click.echo(f"  covers:   {document['summary']}")
    for h in document["history"]:
        click.echo(f"  v{h['version']} {h['change']} on {format_day(h['at_ms'])}: {h['summary']}")


@consent.command()
@click.argument("consent_id", type=int)
@person_option
@json_option
@pass_pod
def revoke(pod: Pod, consent_id: int, person: str, as_json: bool) -> None:
    """Revoke a consent: the actor's very next request is refused."""
    now = now_ms()
    with pod.engine.begin() as conn:
        person_id = find_person(conn, person)
        if person_id is None:
            raise _no_consent(consent_id)
        revoked = store.revoke(conn, person_id, consent_id, now_ms=now)
        document = consent_document(conn, revoked, now)
    if as_json:
        echo_json(document)
    else:
        click.echo(f"Revoked consent {consent_id} of {document['actor']['name']}.")


COMMANDS = [consent]
