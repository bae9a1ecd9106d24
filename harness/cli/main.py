"""The ``harness`` command line: click commands only — parse, call core, print.

Core modules are imported inside each command so that ``harness claim`` pays only for
what it uses (start-up time is part of the claim benchmark). Every HarnessError becomes
one line on stderr and its exit code, in ``main``; nothing else prints tracebacks.
"""

from __future__ import annotations

import contextlib
import sys

import click

from harness.errors import ExitCode, HarnessError


class LazyAreas(click.Group):
    """The lock commands are defined here; every other area's module is imported only when
    a command outside this module is asked for (or --help lists them all). A CLI claim
    is benchmarked against raw git, and importing every area costs more than the claim."""

    _loaded = False

    def _load_areas(self) -> None:
        if not self._loaded:
            type(self)._loaded = True
            _register_commands()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._load_areas()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_areas()
        return super().list_commands(ctx)


@click.group(cls=LazyAreas, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Run a fleet of AI coding agents on one shared git repository."""


def _register_commands() -> None:
    """Command groups that live in their own modules (``harness/cli_<area>.py``).

    Each module defines click commands and imports core lazily; ``LazyAreas`` calls this
    only when a command outside this module is needed.
    """
    from harness.cli import bisect as cli_bisect
    from harness.cli import containers as cli_docker
    from harness.cli import fleet as cli_fleet
    from harness.cli import gate as cli_gate
    from harness.cli import locks as cli_locks
    from harness.cli import loop as cli_loop
    from harness.cli import race as cli_race
    from harness.cli import tasks as cli_tasks
    from harness.cli import testcmd as cli_test
    from harness.cli import views as cli_history

    for command in (
        cli_locks.init,
        cli_locks.claim,
        cli_locks.release,
        cli_locks.heartbeat,
        cli_locks.status,
        cli_tasks.tasks,
        cli_race.race,
        cli_history.history,
        cli_history.report,
        cli_history.top,
        cli_test.test,
        cli_gate.gate,
        cli_gate.hooks,
        cli_loop.loop,
        cli_bisect.bisect,
    ):
        cli.add_command(command)
    cli_docker.register(cli)
    cli_fleet.register(cli)
    # -- more areas register here, one line each --


def main(argv: list[str] | None = None) -> None:
    """Entry point (the console script, ``python -m harness``): run the CLI and exit with its code."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in this process and return the exit code the interpreter would have given it,
    with stdout and stderr flushed: the one mapping of every failure to one line and a code,
    for the entry point and for a forked loop that leaves by ``os._exit``."""
    try:
        code = _run(argv)
    except SystemExit as exc:  # a command's own exit code (gate, test)
        code = _exit_code(exc)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def _run(argv: list[str] | None) -> int:
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as exc:
        click.echo(f"error: {exc}", err=True)
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "harness"
        click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
        return int(ExitCode.USAGE)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: still one line for the user, the traceback kept in a file
        click.echo(f"error: internal error {type(exc).__name__}: {exc} (traceback: {_save_traceback()})", err=True)
        return int(ExitCode.ERROR)
    return 0


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter would have exited with (it prints a non-int code, then exits 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    click.echo(str(exc.code), err=True)
    return 1


def _save_traceback() -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="harness-crash-", suffix=".log", delete=False) as handle:
        traceback.print_exc(file=handle)
        return handle.name
