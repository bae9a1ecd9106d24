"""The ``harness`` command line: click commands only — parse, call core, print.

Core modules are imported inside each command so that ``harness claim`` pays only for
what it uses (start-up time is part of the claim benchmark). Every HarnessError becomes
one line on stderr and its exit code, in ``main``; nothing else prints tracebacks.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from harness.errors import ExitCode, HarnessError

F = TypeVar("F", bound=Callable[..., Any])


def common(func: F) -> F:
    """--repo and --agent, taken by every command (DESIGN.md, command surface)."""
    func = click.option("--agent", default=None, help="agent id (default: $HARNESS_AGENT, else host-pid)")(func)
    func = click.option(
        "--repo", default=".", type=click.Path(file_okay=False, path_type=Path), help="the clone to act in"
    )(func)
    return func


def workspace(repo: Path, agent: str | None) -> Any:
    from harness.workspace import open_workspace

    return open_workspace(repo, agent)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


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


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--from", "source", type=click.Path(exists=True, path_type=Path), help="existing repo to start from")
@click.option("--upstream", type=click.Path(path_type=Path), help="where the bare upstream goes")
def init(path: Path, source: Path | None, upstream: Path | None) -> None:
    """Create a work repo (clone + bare upstream) at PATH."""
    from harness.initrepo import init_work_repo

    result = init_work_repo(path, source, upstream)
    click.echo(f"work repo: {result.clone}\nupstream:  {result.upstream}")
    click.echo(f"next: cd {result.clone} && harness tasks add first-task --title 'Describe the first task'")


@cli.command()
@click.argument("task")
@click.option("--role", default="", help="the claimer's role")
@click.option("--note", default="", help="a line for the lock file and the commit")
@click.option("--files", multiple=True, help="paths/globs this task will touch (repeatable)")
@click.option("--lease", type=click.IntRange(min=1), default=None, help="lease seconds (default from harness.yaml)")
@common
def claim(
    task: str, role: str, note: str, files: tuple[str, ...], lease: int | None, repo: Path, agent: str | None
) -> None:
    """Claim TASK: exit 0 won, 3 held by another agent, 4 not claimable."""
    from harness.locks.claim import claim as do_claim

    result = do_claim(workspace(repo, agent), task, role=role, note=note, files=files, lease_seconds=lease)
    if result.already_held:
        click.echo(f"already held: {task} by {result.lock.agent} (nonce {result.lock.nonce[:12]})")
    elif result.reclaimed_from:
        click.echo(
            f"reclaimed {task} from {result.reclaimed_from} (generation {result.lock.generation}) at {result.commit}"
        )
    else:
        click.echo(f"claimed {task} (nonce {result.lock.nonce[:12]}) at {result.commit}")


@cli.command()
@click.argument("task")
@click.option("--done", "outcome", flag_value="done", help="mark the task done")
@click.option("--abandon", "outcome", flag_value="abandoned", help="hand the lock back; park local commits")
@click.option("--note", default="", help="a line for the release commit")
@common
def release(task: str, outcome: str | None, note: str, repo: Path, agent: str | None) -> None:
    """Release TASK, pushing local work with it. Exit 5 if the lock is no longer ours."""
    from harness.locks.release import Outcome
    from harness.locks.release import release as do_release

    result = do_release(workspace(repo, agent), task, Outcome(outcome or "released"), note)
    extra = f", {result.work_commits} commit(s) of work" if result.work_commits else ""
    click.echo(f"released {task} ({result.outcome.value}{extra}) at {result.commit}")
    if result.parked_ref:
        click.echo(f"local commits parked on {result.parked_ref}")


@cli.command()
@common
def heartbeat(repo: Path, agent: str | None) -> None:
    """Refresh this agent's heartbeat ref on the upstream."""
    from harness.locks.claim import heartbeat as do_heartbeat

    ws = workspace(repo, agent)
    commit = do_heartbeat(ws)
    click.echo(f"heartbeat {ws.agent} at {commit[:12]}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("--fleet", default=None, help="a Docker fleet's name: also show if each holder's container runs")
@common
def status(as_json: bool, fleet: str | None, repo: Path, agent: str | None) -> None:
    """Locks at the upstream tip: holder, age, heartbeat, stale."""
    from harness.history.textfmt import status_lines
    from harness.locks.status import status as do_status

    report = do_status(workspace(repo, agent))
    if fleet is not None:
        from harness.locks.status import with_containers
        from harness.runtime.docker import DockerRuntime

        report = with_containers(report, {i.agent: i.state for i in DockerRuntime().ps(fleet)})
    if as_json:
        emit_json(report.to_json())
        return
    for line in status_lines(report):
        click.echo(line)


def _register_commands() -> None:
    """Command groups that live in their own modules (``harness/cli_<area>.py``).

    Each module defines click commands and imports core lazily; ``LazyAreas`` calls this
    only when a command outside this module is needed.
    """
    from harness.cli import bisect as cli_bisect
    from harness.cli import containers as cli_docker
    from harness.cli import fleet as cli_fleet
    from harness.cli import gate as cli_gate
    from harness.cli import loop as cli_loop
    from harness.cli import race as cli_race
    from harness.cli import tasks as cli_tasks
    from harness.cli import testcmd as cli_test
    from harness.cli import views as cli_history

    for command in (
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
