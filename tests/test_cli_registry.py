"""The lazy command registry (cli/main.py's COMMANDS): `harness --help` lists every command
from the registry without importing one, a command imports only its own module, and the
registry says what the commands themselves say."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

import harness.cli
from harness.cli.main import COMMANDS
from tests.conftest import WorkRepo, assert_one_line_error, run_harness

# Runs the CLI in a fresh interpreter, then reports which harness modules it imported.
PROBE = """
import json, sys
import click
from harness.cli.main import COMMANDS, cli, run
if sys.argv[1:] == ["--listing"]:
    ctx = click.Context(cli, info_name="harness", terminal_width=100)
    lazy = cli.get_help(ctx)
    imported = sorted(m for m in sys.modules if m.startswith("harness"))
    for name in COMMANDS:
        cli.get_command(ctx, name)
    print(json.dumps({"lazy": lazy, "eager": cli.get_help(ctx), "imported": imported}))
else:
    code = run(sys.argv[1:])
    print(json.dumps({"code": code, "imported": sorted(m for m in sys.modules if m.startswith("harness"))}))
"""


def probe(*args: str, cwd: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=True
    )
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def test_help_lists_every_command_as_click_would_without_importing_any(tmp_path: Path) -> None:
    report = probe("--listing", cwd=tmp_path)
    assert report["imported"] == ["harness", "harness.cli", "harness.cli.main", "harness.errors"]
    assert report["lazy"] == report["eager"]
    listed = run_harness("--help", cwd=tmp_path).stdout.split("Commands:\n", 1)[1]
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line[2] != " "}
    assert names == {name for name, (_, _, summary) in COMMANDS.items() if summary is not None}
    assert "fleet-watch" not in listed  # hidden: internal


def test_a_command_imports_its_own_module_and_no_other_area(work: WorkRepo) -> None:
    report = probe("claim", "t1", "--agent", "a1", cwd=work.first_clone)
    assert report["code"] == 0
    areas = {m for m in report["imported"] if m.startswith("harness.cli.")}
    assert areas == {"harness.cli.main", "harness.cli.common", "harness.cli.locks"}
    assert not any(m.startswith(("harness.runtime", "harness.loop", "harness.history")) for m in report["imported"])


def test_the_registry_says_what_each_command_says() -> None:
    for name, (module, attr, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command) and command.name == name, (name, module, attr)
        assert command.hidden == (summary is None), name
        if summary is not None:
            assert command.get_short_help_str(limit=1000) == summary, name


def test_every_command_defined_in_cli_is_registered() -> None:
    registered = [getattr(importlib.import_module(module), attr) for module, attr, _ in COMMANDS.values()]
    reachable = {id(c) for c in registered} | {
        id(sub) for group in registered if isinstance(group, click.Group) for sub in group.commands.values()
    }
    for info in pkgutil.iter_modules(harness.cli.__path__, "harness.cli."):
        for attr, value in vars(importlib.import_module(info.name)).items():
            if isinstance(value, click.Command) and info.name != "harness.cli.main":
                assert id(value) in reachable, f"{info.name}.{attr} is a command missing from COMMANDS"


def test_an_unknown_command_gets_a_suggestion_from_the_whole_registry(tmp_path: Path) -> None:
    proc = run_harness("clam", cwd=tmp_path)
    assert_one_line_error(proc, 2, "No such command 'clam'", "Did you mean 'claim'?")
