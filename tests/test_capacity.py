"""Capacity: sizes read the way users write them, and a fleet too big for the host is refused with the numbers."""

from __future__ import annotations

import pytest

from harness.errors import ExitCode, UsageError
from harness.runtime.capacity import CapacityError, Host, check_fleet_memory, parse_size, plan
from tests.conftest import run_harness

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4g", 4 * GIB), ("512m", 512 * 1024**2), ("1.5GiB", int(1.5 * GIB)), ("2G", 2 * GIB), ("65536k", 64 * 1024**2)],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["x", "4 gigs", "-1g", "", "1m"])
def test_bad_sizes_are_usage_errors_naming_the_option(text: str) -> None:
    with pytest.raises(UsageError, match="--memory"):
        parse_size(text)


def test_plan_fits_by_memory_and_cpu() -> None:
    host = Host(16 * GIB, 8, "test")
    result = plan(host, 4 * GIB, 1.0)
    # 16g minus a 10% reserve (1.6g) holds three 4g agents; 8 CPUs at 2x hold 16.
    assert (result.by_memory, result.by_cpu, result.fits) == (3, 16, 3)
    assert plan(host, 512 * 1024**2, 2.0).fits == 8  # CPU-bound now


def test_fleet_beyond_host_memory_is_refused_with_the_numbers() -> None:
    host = Host(8 * GIB, 4, "the docker engine's host")
    check_fleet_memory(host, 3, 2 * GIB)  # 6g of 7.2g usable: fine
    with pytest.raises(CapacityError) as caught:
        check_fleet_memory(host, 8, 2 * GIB)
    message = str(caught.value)
    assert "8 agents x 2g = 16g" in message and "has 8g" in message and "3 agent(s) of that size fit" in message
    assert "\n" not in message and caught.value.exit_code == ExitCode.ERROR


def test_plan_command_prints_the_fit_and_rejects_a_bad_size(tmp_path: object) -> None:
    ok = run_harness("plan", "--memory", "1g", "--cpus", "0.5", cwd=tmp_path)  # type: ignore[arg-type]
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1].startswith("agents that fit: ")
    bad = run_harness("plan", "--memory", "lots", cwd=tmp_path)  # type: ignore[arg-type]
    assert bad.returncode == ExitCode.USAGE and bad.stderr.count("\n") == 1 and "--memory" in bad.stderr
