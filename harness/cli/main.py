"""The ``harness`` command line: the click group, the command registry, the error handler.

Commands live in one module per area (``cli/locks.py``, ``cli/tasks.py``, ...) and are found
through ``COMMANDS`` by module path, like pip's ``commands_dict``: ``harness --help`` lists
them from the registry without importing any, and a command's module is imported only when
it runs, so ``harness claim`` pays for the lock protocol and nothing else (its start-up time
is part of the claim benchmark, benchmarks/cli.py). Core modules are imported inside each
command for the same reason. Every HarnessError becomes one line on stderr and its exit code,
in ``run``; nothing else prints tracebacks.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

import click

from harness.errors import ExitCode, HarnessError

# name -> (module, attribute, the short help `harness --help` shows; None: hidden, internal).
# The short help is the command's own (its docstring's first sentence): a test keeps them equal.
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "bisect": (
        "harness.cli.bisect",
        "bisect",
        "Find the units whose candidate build breaks the probe, each a small task.",
    ),
    "claim": ("harness.cli.locks", "claim", "Claim TASK: exit 0 won, 3 held by another agent, 4 not claimable."),
    "demo": (
        "harness.cli.fleet",
        "demo",
        "A fleet of builtin (scripted) agents on an embedded sample project: no API key, no Docker.",
    ),
    "down": ("harness.cli.fleet", "down", "Stop a fleet cleanly: every loop hands its lock back."),
    "fleet-watch": ("harness.cli.containers", "fleet_watch", None),
    "gate": ("harness.cli.gate", "gate", "Refuse what would break a test that passes at upstream main (exit 6)."),
    "heartbeat": ("harness.cli.locks", "heartbeat", "Refresh this agent's heartbeat ref on the upstream."),
    "history": (
        "harness.cli.views",
        "history",
        "Claims, releases, reclaims and sweeps from the lock history, with stats.",
    ),
    "hooks": ("harness.cli.gate", "hooks", "The gate's hooks on the bare upstream."),
    "image": ("harness.cli.containers", "image", "Build the agent image without any image registry."),
    "init": ("harness.cli.locks", "init", "Create a work repo (clone + bare upstream) at PATH."),
    "logs": ("harness.cli.fleet", "logs", "The loop output of one agent."),
    "loop": (
        "harness.cli.loop",
        "loop",
        "Run fresh agent sessions forever: claim, session, integrate, release, record.",
    ),
    "queue": (
        "harness.cli.queue",
        "queue",
        "The merge queue: submissions tested in batches, landed in one swap of main.",
    ),
    "peer": (
        "harness.cli.containers",
        "peer",
        "Copy a read-only, filtered snapshot of SOURCE's workspace into .shared/SOURCE/ of --into.",
    ),
    "plan": (
        "harness.cli.containers",
        "plan",
        "How many agents of a given size fit this machine (the Docker engine's host if one answers).",
    ),
    "ps": ("harness.cli.fleet", "ps", "The fleet's agents: state, iteration, current task."),
    "race": (
        "harness.cli.race",
        "race",
        "Race CLAIMERS processes for TASKS tasks on a fresh upstream; prove each was won once.",
    ),
    "release": ("harness.cli.locks", "release", "Release TASK, pushing local work with it."),
    "report": (
        "harness.cli.views",
        "report",
        "Write OUT.html: one self-contained page of plots and tables (no network needed).",
    ),
    "status": ("harness.cli.locks", "status", "Locks at the upstream tip: holder, age, heartbeat, stale."),
    "tasks": ("harness.cli.tasks", "tasks", "Task specs in tasks/<id>.yaml, and the scheduler's next choice."),
    "test": ("harness.cli.testcmd", "test", "Run the project's tests; print a summary, ERROR lines and the log path."),
    "top": (
        "harness.cli.views",
        "top",
        "A live view of the fleet: agents, tasks, iteration, last outcome, tests, spend.",
    ),
    "up": ("harness.cli.fleet", "up", "Start a fleet: one loop per agent, e.g."),  # click stops at "e.g."
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name from ``COMMANDS`` when one is run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command), f"{module}.{attr} is not a click command"
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of ``--help``, made by click from stand-ins that carry the registry's
        short help, so it looks as if every command were loaded while none is imported."""
        listing = click.Group(commands={name: self._listed(name) for name in self.list_commands(ctx)})
        listing.format_commands(ctx, formatter)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # suggest from every command, not the loaded ones
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def _listed(self, name: str) -> click.Command:
        if name in self.commands:
            return self.commands[name]
        summary = COMMANDS[name][2]
        return click.Command(name, help=summary, hidden=summary is None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Run a fleet of AI coding agents on one shared git repository."""


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
