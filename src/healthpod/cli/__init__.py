"""The `healthpod` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import functools
import gc
import importlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from healthpod import __version__
from healthpod.errors import ConfigError, HealthpodError, InvalidRequest

if TYPE_CHECKING:
    from healthpod.config import Settings
    from healthpod.pod import Pod

F = TypeVar("F", bound=Callable[..., Any])

# Every command takes -h as well as --help. A context made without the group as its parent
# must be given these too: click caches a command's help option from the first context it
# sees.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


class HealthpodGroup(click.Group):
    """A group that loads its commands on demand and turns our errors into messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(f"healthpod.cli.{LAZY_COMMANDS[cmd_name]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, InvalidRequest) as exc:
            # A bad setting or a bad value on the command line is a usage error, as click's own.
            _print_error(exc)
            ctx.exit(2)
        except HealthpodError as exc:
            _print_error(exc)
            ctx.exit(1)


def _print_error(exc: HealthpodError) -> None:
    click.secho(f"Error: {exc.message}", fg="red", err=True)
    if exc.hint:
        click.echo(exc.hint, err=True)


class CliState:
    """What the global options gave; opens the pod on first use and closes it at exit."""

    def __init__(self, home: Path | None, database_url: str | None) -> None:
        self._home = home
        self._database_url = database_url
        self._settings: Settings | None = None
        self._pod: Pod | None = None

    @property
    def given_home(self) -> Path | None:
        """--home as given on the command line (not the environment's)."""
        return self._home

    @property
    def given_database_url(self) -> str | None:
        """--database-url as given on the command line (not the environment's)."""
        return self._database_url

    def point_at(self, home: Path, database_url: str) -> None:
        """Use this home and database from now on, whatever the environment says."""
        self.close()
        self._pod = None
        self._home, self._database_url = home, database_url
        self._settings = None

    @property
    def settings(self) -> Settings:
        """The settings, loaded (and logging set up by them) when a command first needs them:
        `import` starts its reader process before that (see `ingest.head_start`)."""
        if self._settings is None:
            from healthpod.config import load_settings  # pydantic: only once a command runs

            self._settings = load_settings(home=self._home, database_url=self._database_url)
            _configure_logging(self._settings.log_level)
        return self._settings

    def pod(self, *, check: bool = True) -> Pod:
        if self._pod is None:
            from healthpod.pod import Pod  # SQLAlchemy and the schema: only for the store

            self._pod = Pod.open(self.settings, check=check)
        return self._pod

    def close(self) -> None:
        if self._pod is not None:
            self._pod.close()


@click.group(cls=HealthpodGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="healthpod")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory of the pod (default: HEALTHPOD_HOME or a per-user data directory).",
)
@click.option("--database-url", help="SQLAlchemy URL (default: a SQLite file in the home).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, database_url: str | None) -> None:
    """healthpod: your health data, in your own pod, shared on your own terms."""
    state = CliState(home, database_url)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Alembic narrates every migration step at INFO; a person only needs our own summary.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def pass_pod(func: F) -> F:
    """Give a command the opened, schema-checked pod as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = click.get_current_context().find_object(CliState)
        assert state is not None
        return func(state.pod(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def echo_json(document: Any) -> None:
    """Print one JSON document to stdout (for `--json`)."""
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


# Each command's module is imported only when that command runs (or help lists it), so
# `healthpod import` does not pay for the web server, the FHIR models or scipy.
LAZY_COMMANDS: dict[str, str] = {
    "account": "accounts",
    "actor": "actors",
    "consent": "consent",
    "data": "data",
    "db": "db",
    "delegate": "delegate",
    "demo": "demo",
    "export": "export",
    "import": "imports",
    "imports": "imports",
    "init": "db",
    "insights": "stats",
    "log": "log",
    "notify": "notify",
    "serve": "serve",
    "settings": "settings",
    "share": "share",
    "sources": "stats",
    "stats": "stats",
    "study": "study",
    "worker": "worker",
}


def main() -> None:
    try:
        cli(prog_name="healthpod")
    finally:
        # The process ends here. Without this, the interpreter's shutdown walks every object
        # left (the store's, the importers', numpy's) for cycles, several times: a tenth of a
        # second after a large import. What the command opened it has closed, and Python
        # never promised finalizers at exit anyway.
        gc.freeze()
