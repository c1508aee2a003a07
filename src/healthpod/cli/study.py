"""`healthpod study ...`: research studies, and people joining and leaving them."""

from __future__ import annotations

from datetime import date, datetime

import click

from healthpod.cli import echo_json, json_option, pass_pod
from healthpod.errors import InvalidRequest, NotFound
from healthpod.pod import Pod, now_ms
from healthpod.research import studies
from healthpod.store import persons


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidRequest(
            f"{option} {text[:40]!r} is not a date.", hint="Give the day as YYYY-MM-DD."
        ) from None


def _person(pod: Pod, name: str) -> int:
    with pod.engine.connect() as conn:
        found = persons.find(conn, name)
    if found is None:
        raise NotFound(
            f"There is no person called {name!r} in this pod.",
            hint="Check the name given with --person.",
        )
    return found


@click.group(name="study")
def study() -> None:
    """Research studies: create, open, close; join, leave and opt out of all research."""


@study.command()
@click.option("--title", required=True, help="What the study is called.")
@click.option("--sponsor", required=True, help="The research actor's client id (or id).")
@click.option("--duo", required=True, help="GA4GH DUO codes: one permission, then modifiers.")
@click.option("--categories", required=True, help="Data categories, comma-separated.")
@click.option("--granularity", type=click.Choice(["daily", "raw"]), default="daily")
@click.option("--from", "data_from", required=True, help="First day of data (YYYY-MM-DD).")
@click.option("--to", "data_to", required=True, help="Day after the last day of data.")
@click.option("--min-cohort", type=int, required=True, help="Fewest people an answer covers.")
@click.option("--epsilon", type=float, required=True, help="Privacy budget per participant.")
@click.option("--summary-en", help="What the study does, in plain English.")
@click.option("--summary-sv", help="What the study does, in plain Swedish.")
@click.option("--ethics-ref", help="The ethics approval's reference.")
@click.option("--end", help="Last day of the study (YYYY-MM-DD, exclusive).")
@click.option(
    "--releases",
    type=click.Choice(["aggregates", "records"]),
    default="aggregates",
    show_default=True,
    help="What leaves the pod: aggregate answers only, or also pseudonymised records.",
)
@json_option
@pass_pod
def create(
    pod: Pod,
    title: str,
    sponsor: str,
    duo: str,
    categories: str,
    granularity: str,
    data_from: str,
    data_to: str,
    min_cohort: int,
    epsilon: float,
    summary_en: str | None,
    summary_sv: str | None,
    ethics_ref: str | None,
    end: str | None,
    releases: str,
    as_json: bool,
) -> None:
    """Create a study (a draft; `study open` opens it).

    \b
        healthpod study create --title "Steps and sleep" --sponsor CLIENT_ID --duo HMB,NCU \\
          --categories activity,sleep --from 2025-01-01 --to 2026-01-01 --min-cohort 50 \\
          --epsilon 2
    """
    plan = studies.StudyPlan(
        title=title,
        sponsor=sponsor,
        duo=duo,
        categories=categories,
        granularity=granularity,
        data_from=_day(data_from, "--from") or date.min,
        data_to=_day(data_to, "--to") or date.min,
        min_cohort=min_cohort,
        epsilon=epsilon,
        summary_en=summary_en,
        summary_sv=summary_sv,
        ethics_ref=ethics_ref,
        end=_day(end, "--end"),
        releases=releases,
    )
    with pod.engine.begin() as conn:
        made = studies.create(conn, plan, now_ms=now_ms())
    if as_json:
        echo_json({"id": made.id, "status": made.status})
    else:
        click.echo(f"Study {made.id} created as a draft: {made.title}")


@study.command(name="list")
@json_option
@pass_pod
def list_(pod: Pod, as_json: bool) -> None:
    """List every study."""
    now = now_ms()
    with pod.engine.connect() as conn:
        documents = [studies.document(conn, s, now_ms=now) for s in studies.list_studies(conn)]
    if as_json:
        echo_json(documents)
        return
    if not documents:
        click.echo("There are no studies.")
    for d in documents:
        click.echo(f"{d['id']}  {d['status']}  {d['title']}  ({d['participants']} participants)")


@study.command()
@click.argument("study_id", type=int)
@json_option
@pass_pod
def show(pod: Pod, study_id: int, as_json: bool) -> None:
    """Show one study."""
    with pod.engine.connect() as conn:
        d = studies.document(conn, studies.get(conn, study_id), now_ms=now_ms())
    if as_json:
        echo_json(d)
        return
    click.echo(f"Study {d['id']}: {d['title']} ({d['status']})")
    click.echo(f"  sponsor:     {d['sponsor']['name']} ({d['sponsor']['client_id']})")
    click.echo(f"  use:         {'; '.join(c['display'] for c in d['duo'])}")
    click.echo(f"  categories:  {', '.join(d['categories'])} ({d['granularity']})")
    click.echo(f"  data:        {d['data_from']} to {d['data_to']}")
    click.echo(f"  min cohort:  {d['min_cohort']}; budget epsilon {d['epsilon']}")
    click.echo(f"  releases:    {d['releases']}")
    click.echo(f"  participants: {d['participants']}")


def _status_command(name: str, doc: str) -> click.Command:
    @click.argument("study_id", type=int)
    @json_option
    @pass_pod
    def command(pod: Pod, study_id: int, as_json: bool) -> None:
        change = studies.open_study if name == "open" else studies.close_study
        with pod.engine.begin() as conn:
            changed = change(conn, study_id, now_ms=now_ms())
        if as_json:
            echo_json({"id": changed.id, "status": changed.status})
        else:
            click.echo(f"Study {changed.id} is {changed.status}.")

    command.__doc__ = doc
    return study.command(name=name)(command)


_status_command("open", "Open a draft study: people can join it.")
_status_command("close", "Close a study: nobody joins and nothing more is released.")

person_option = click.option("--person", required=True, help="Who joins or leaves.")


@study.command()
@click.argument("study_id", type=int)
@person_option
@json_option
@pass_pod
def join(pod: Pod, study_id: int, person: str, as_json: bool) -> None:
    """Join an open study: one consent for its sponsor, for research only."""
    person_id = _person(pod, person)
    with pod.engine.begin() as conn:
        joined = studies.join(conn, study_id, person_id, now_ms=now_ms())
    if as_json:
        echo_json({"study": study_id, "consent": joined.consent_id, "status": "joined"})
    else:
        click.echo(f"Joined study {study_id} (consent {joined.consent_id}).")


@study.command()
@click.argument("study_id", type=int)
@person_option
@json_option
@pass_pod
def leave(pod: Pod, study_id: int, person: str, as_json: bool) -> None:
    """Leave a study: nothing new is used; answers already released cannot be called back."""
    person_id = _person(pod, person)
    with pod.engine.begin() as conn:
        left = studies.leave(conn, study_id, person_id, now_ms=now_ms())
    if as_json:
        echo_json({"study": study_id, "consent": left.consent_id, "status": "left"})
    else:
        click.echo(
            f"Left study {study_id}: nothing new is used from now on. "
            "Answers already released cannot be called back."
        )


@study.command(name="opt-out")
@person_option
@click.option("--off", is_flag=True, help="Opt back in (join studies again, one by one).")
@json_option
@pass_pod
def opt_out(pod: Pod, person: str, off: bool, as_json: bool) -> None:
    """Opt out of all research and secondary use (EHDS Art. 71); leaves every study."""
    person_id = _person(pod, person)
    with pod.engine.begin() as conn:
        left = studies.set_opt_out(conn, person_id, not off, now_ms=now_ms())
    if as_json:
        echo_json({"opted_out": not off, "left": left})
    elif off:
        click.echo("You are no longer opted out; you can join studies again.")
    else:
        click.echo(f"Opted out of all research; left {len(left)} studies.")


def _bounds(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise InvalidRequest(
            f"--bounds {text[:40]!r} is not LOW,HIGH.", hint="For example --bounds 0,30000."
        ) from None
    return low, high


def _numbers(text: str | None, option: str, example: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidRequest(
            f"{option} {text[:60]!r} is not a list of numbers.", hint=f"For example {example}."
        ) from None


@study.command()
@click.argument("study_id", type=int)
@click.option("--type", "type_code", required=True, help="The type, e.g. steps.")
@click.option(
    "--statistic",
    type=click.Choice(["count", "sum", "mean", "quantile", "histogram"]),
    default="mean",
    help="What is released, over each person's mean daily value.",
)
@click.option("--bounds", help="LOW,HIGH: each daily value is clamped to these.")
@click.option("--epsilon", type=float, required=True, help="Privacy budget this answer spends.")
@click.option("--quantiles", help="With --statistic quantile: Q,... each between 0 and 1.")
@click.option("--bins", help="With --statistic histogram: the bin edges E0,E1,... in order.")
@click.option(
    "--group-by",
    type=click.Choice(["month", "age-band", "sex"]),
    help="An answer per group (groups under the minimum cohort are suppressed).",
)
@json_option
@pass_pod
def aggregate(
    pod: Pod,
    study_id: int,
    type_code: str,
    statistic: str,
    bounds: str | None,
    epsilon: float,
    quantiles: str | None,
    bins: str | None,
    group_by: str | None,
    as_json: bool,
) -> None:
    """A differentially private answer for the study (OpenDP), charged to every contributor.

    \b
        healthpod study aggregate 1 --type steps --statistic mean --bounds 0,30000 \\
          --epsilon 0.5 --json
        healthpod study aggregate 1 --type steps --statistic quantile \\
          --quantiles 0.25,0.5,0.75 --bounds 0,30000 --epsilon 0.5
        healthpod study aggregate 1 --type steps --statistic histogram \\
          --bins 0,5000,10000,15000,20000 --bounds 0,30000 --epsilon 0.5
        healthpod study aggregate 1 --type steps --statistic mean --group-by month \\
          --bounds 0,30000 --epsilon 1.2
    """
    from healthpod.research import aggregate as dp_aggregate  # OpenDP: only for this command

    answer = dp_aggregate.release(
        pod.engine,
        pod.reads,
        study_id,
        type_code=type_code,
        statistic=statistic,
        bounds=_bounds(bounds),
        epsilon=epsilon,
        yearly_epsilon=pod.settings.research_yearly_epsilon,
        now_ms=now_ms(),
        quantiles=_numbers(quantiles, "--quantiles", "--quantiles 0.25,0.5,0.75"),
        bins=_numbers(bins, "--bins", "--bins 0,5000,10000"),
        group_by=group_by,
    )
    if as_json:
        echo_json(answer.document())
    elif not isinstance(answer, dp_aggregate.Answer):
        click.echo(answer.summary())
    else:
        low, high = answer.interval
        click.echo(
            f"{statistic} {answer.value:.6g} over {answer.cohort} people "
            f"(95% interval {low:.6g} to {high:.6g}; epsilon {answer.epsilon_spent:.4g}, "
            f"noise scale {answer.noise_scale:.4g})"
        )


COMMANDS = [study]
