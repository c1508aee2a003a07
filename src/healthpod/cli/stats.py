"""`healthpod stats`, `healthpod insights` and `healthpod sources`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import click

from healthpod.cli import CliState, echo_json, json_option, pass_pod
from healthpod.cli.consent import find_person
from healthpod.errors import NotFound
from healthpod.insights import apple_check, report, summaries
from healthpod.insights import findings as findings_
from healthpod.insights import sources as sources_
from healthpod.insights import stats as stats_
from healthpod.insights.measures import Method, find_measure
from healthpod.insights.timefmt import iso_instant
from healthpod.pod import DEFAULT_PERSON, Pod
from healthpod.store.person_data import Writer, for_owner

person_option = click.option(
    "--person", default=DEFAULT_PERSON, show_default=True, help="Whose data (as imported)."
)


@contextmanager
def _person(pod: Pod, name: str) -> Iterator[Writer | None]:
    """The own door of the person called `name` (never created here), in one transaction;
    None for the pod's own person while nothing is stored for them (`find_person`).

    Raises:
        NotFound: a person named with --person is not in this pod.
    """
    with pod.engine.connect() as conn:
        found = find_person(conn, name)
    if found is None:
        yield None
        return
    data = for_owner(pod.engine, pod.reads, found)
    summaries.bring_up_to_date(data)
    with data.writer() as write:
        yield write


def _someone(write: Writer | None) -> Writer:
    """The person's door for a question about one type or source, which an empty pod cannot
    answer.

    Raises:
        NotFound: nothing is stored in this pod yet.
    """
    if write is None:
        raise NotFound(
            "There is no data in this pod yet.",
            hint="Import some with `healthpod import FILE`.",
        )
    return write


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


class Day(click.ParamType[date]):
    """A local day written YYYY-MM-DD; anything else is a usage error (exit 2)."""

    name = "date"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not a date; write YYYY-MM-DD, e.g. 2026-03-29.", param, ctx)


DAY = Day()


@click.command()
@click.argument("type_code", metavar="[TYPE]", required=False)
@click.option(
    "--by",
    default="day",
    show_default=True,
    type=click.Choice([b.value for b in stats_.By], case_sensitive=False),
    help="Bucket size.",
)
@click.option("--from", "from_", type=DAY, metavar="DATE", help="First local day (YYYY-MM-DD).")
@click.option("--to", type=DAY, metavar="DATE", help="Last local day (YYYY-MM-DD), included.")
@click.option(
    "--explain", type=DAY, metavar="DATE", help="Show which source counted when on that day."
)
@click.option(
    "--compare-apple",
    is_flag=True,
    help="Put the daily totals beside Apple's ActivitySummary (active_energy, exercise_time), "
    "within --from/--to.",
)
@person_option
@json_option
@pass_pod
def stats(
    pod: Pod,
    type_code: str | None,
    by: str,
    from_: date | None,
    to: date | None,
    explain: date | None,
    compare_apple: bool,
    person: str,
    as_json: bool,
) -> None:
    """Statistics: per type, or one type per hour, day, week or month in local time.

    Summed types (steps, energy) are counted once where sources overlap: the source with the
    better priority wins (see `healthpod sources`).

    \b
        healthpod stats
        healthpod stats steps --by week --from 2026-01-01
        healthpod stats steps --explain 2026-03-29
        healthpod stats active_energy --compare-apple
        healthpod stats heart_rate --by hour --from 2026-03-29 --to 2026-03-29 --json
    """
    with _person(pod, person) as write:
        if type_code is None:
            _overview(write, as_json)
        elif compare_apple:
            _compare(_someone(write), type_code, from_, to, as_json)
        elif explain is not None:
            spans = stats_.explain_day(_someone(write), type_code, explain)
            if as_json:
                echo_json(
                    {"type": type_code, "day": explain, "spans": [s.to_json() for s in spans]}
                )
            else:
                for s in spans:
                    click.echo(f"{s.start}  {s.end}  {_number(s.amount):>10} {s.unit}  {s.source}")
        else:
            result = stats_.bucket_stats(_someone(write), type_code, by, from_, to)
            if as_json:
                echo_json(result.to_json())
            else:
                _print_stats(result)


def _compare(
    write: Writer, type_code: str, from_: date | None, to: date | None, as_json: bool
) -> None:
    checks = apple_check.compare(write, type_code, from_, to)
    both = [c.difference for c in checks if c.difference is not None]
    mean_abs = sum(abs(d) for d in both) / len(both) if both else None
    if as_json:
        echo_json(
            {
                "type": type_code,
                "days": [c.to_json() for c in checks],
                "days_compared": len(both),
                "mean_absolute_difference": mean_abs,
            }
        )
        return
    click.echo(f"{'day':<12} {'Apple':>10} {'ours':>10} {'difference':>11}")
    for c in checks:
        diff = "-" if c.difference is None else f"{c.difference:+.2f}"
        click.echo(
            f"{c.day_on.isoformat():<12} {_number(c.apple):>10} {_number(c.ours):>10} {diff:>11}"
        )
    click.echo(
        f"{len(both)} days with both; mean absolute difference "
        f"{'-' if mean_abs is None else f'{mean_abs:.2f}'}"
    )


def _overview(write: Writer | None, as_json: bool) -> None:
    found = [] if write is None else stats_.overview(write)
    if as_json:
        echo_json({"types": {t.code: t.to_json() for t in found}})
        return
    if not found:
        click.echo("No data yet. Import some with `healthpod import FILE`.")
        return
    click.echo(f"{'type':<34} {'count':>10}  {'unit':<12} {'first':<20}  last")
    for t in found:
        first, last = iso_instant(t.first_ms) or "", iso_instant(t.last_ms) or ""
        click.echo(f"{t.code:<34} {t.count:>10,}  {t.unit:<12} {first:<20}  {last}")


def _print_stats(result: stats_.Stats) -> None:
    click.echo(
        f"{result.display} ({result.unit}) per {result.by}, {result.from_on} to {result.to_on}"
    )
    if result.method is Method.DESCRIBE:
        click.echo(f"{'start':<26} {'count':>7} {'min':>10} {'mean':>10} {'max':>10}")
        for b in result.buckets:
            click.echo(
                f"{b.start:<26} {b.count:>7} {_number(b.low):>10} "
                f"{_number(b.mean):>10} {_number(b.high):>10}"
            )
        return
    per_night = result.method is Method.SLEEP
    click.echo(
        f"{'start':<26} {'count':>7} {'sum':>12}"
        + (f" {'per night':>10}" if per_night else "")
        + "  sources"
    )
    for b in result.buckets:
        sources = ", ".join(f"{k} {_number(v)}" for k, v in b.by_source.items() if v)
        night = f" {_number(b.mean):>10}" if per_night else ""
        click.echo(f"{b.start:<26} {b.count:>7} {_number(b.total):>12}{night}  {sources}")


@click.command()
@click.option(
    "--as-of", type=DAY, metavar="DATE", help="Judge the periods ending on this local day."
)
@person_option
@json_option
@pass_pod
def insights(pod: Pod, as_of: date | None, person: str, as_json: bool) -> None:
    """Findings about your health data, compared with your own normal and public guidelines.

    This is wellness information, not a diagnosis.

    \b
        healthpod insights
        healthpod insights --json
    """
    day = as_of
    with _person(pod, person) as write:
        built = report.Report(day, [], {}) if write is None else report.build(write, day)
    if as_json:
        echo_json(built.to_json())
        return
    found = built.findings
    if not found:
        click.echo("No findings: there is not enough recent data to compare yet.")
        return
    colours = {"attention": "red", "notice": "yellow", "info": "green"}
    for f in found:
        click.secho(f"[{f.severity}] {f.title}", fg=colours[f.severity.value], bold=True)
        click.echo(f"  {f.text}")
        click.echo(
            f"  Period {f.period[0]} to {f.period[1]}. Compared with: {f.reference['name']}."
        )
        click.echo(f"  Data: {f.data}  (id {f.id})")
    click.echo(f"\n{findings_.NOT_A_DIAGNOSIS}")


type_option = click.option(
    "--type",
    "type_code",
    metavar="TYPE",
    default=None,
    help="One type's own order (e.g. steps), which overrides the person-wide order for it.",
)


@click.group(invoke_without_command=True)
@person_option
@type_option
@json_option
@click.pass_context
def sources(ctx: click.Context, person: str, type_code: str | None, as_json: bool) -> None:
    """The apps and devices that sent data, in order of priority (1 counts first).

    With --type, in that type's order: the sources given a place for the type come first, then
    the others in the person-wide order.

    \b
        healthpod sources
        healthpod sources priority "Alex's Apple Watch" 1
        healthpod sources priority "Alex's iPhone" 1 --type steps
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliState)
    assert state is not None
    with _person(state.pod(), person) as write:
        found = []
        if write is not None:
            if type_code is not None:
                type_code = find_measure(write, type_code).code
            found = sources_.list_sources(write, type_code)
    if as_json:
        echo_json({"sources": [s.to_json() for s in found]})
        return
    if not found:
        click.echo("No sources yet. Import some data with `healthpod import FILE`.")
        return
    click.echo(f"{'rank':>4}  {'priority':>8}  {'samples':>10}  {'last':<20}  name")
    for s in found:
        last = iso_instant(s.last_ms) or "-"
        click.echo(f"{s.rank:>4}  {s.priority:>8}  {s.samples:>10,}  {last:<20}  {s.name}")


@sources.command()
@click.argument("source")
@click.argument("position", type=click.IntRange(min=1))
@person_option
@type_option
@json_option
@pass_pod
def priority(
    pod: Pod, source: str, position: int, person: str, type_code: str | None, as_json: bool
) -> None:
    """Move SOURCE (its name or id) to POSITION in the order; 1 counts first.

    With --type, in that type's own order only (the phone first for steps, say, while the watch
    stays first for everything else). Daily statistics are recomputed with the new order.
    """
    with _person(pod, person) as someone:
        write = _someone(someone)
        if type_code is None:
            changed = sources_.set_priority(write, source, position)
            if changed:
                summaries.refresh_person(write)
        else:
            type_code = find_measure(write, type_code).code
            if sources_.set_type_priority(write, type_code, source, position):
                summaries.refresh_type(write, type_code)
        found = sources_.list_sources(write, type_code)
    if as_json:
        echo_json({"sources": [s.to_json() for s in found]})
        return
    for s in found:
        click.echo(f"{s.rank:>4}. {s.name}")


COMMANDS = [stats, insights, sources]
