"""What the old-tip verifier costs a push, side by side in one run.

    .venv/bin/python -m benchmarks.verifier [--rounds 5] [--tests 40] [--pushes 20]

(a) A lock-only claim through the installed hook (one `git merge-base` and one raw
    `git diff-tree` in sh, no Python) over the same push to an unhooked upstream.
(b) Gated pushes on a real pytest project of N tests, interleaved round by round so machine
    load hits each alike: a code-only change (tree A: the whole suite in its old form), a
    push adding a test file and one editing a test (tree A, plus tree B: list the suite, run
    the new and changed tests in their pushed form). Printed as wall time per push and as
    the ratio over the code-only push.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import hermetic_env
from benchmarks.gate import bench_lock_only
from harness.initrepo import init_work_repo

CONFIG = "version: 1\ntests:\n  runner: pytest\n  total_timeout_seconds: 600\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def timed_push(clone: Path, files: dict[str, str], message: str) -> float:
    for path, text in files.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
        git(clone, "add", path)
    git(clone, "commit", "-q", "-m", message)
    start = time.perf_counter()
    proc = subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"],
        cwd=clone,
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_ROLE": "core-dev"},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"push refused: {proc.stderr}")
    return time.perf_counter() - start


def project(base: Path, tests: int) -> Path:
    clone = init_work_repo(base / "work").clone
    files = {"harness.yaml": CONFIG, "pytest.ini": "[pytest]\ntestpaths = tests\npythonpath = .\n"}
    files["app.py"] = "def value(i):\n    return i\n"
    per_file = 10
    for f in range(tests // per_file):
        body = "from app import value\n" + "".join(
            f"\n\ndef test_{f}_{i}():\n    assert value({i}) == {i}\n" for i in range(per_file)
        )
        files[f"tests/test_{f:02d}.py"] = body
    for path, text in files.items():
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / path).write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "project")
    subprocess.run(
        ["git", "push", "-q", "origin", "HEAD:main"], cwd=clone, check=True, env={**os.environ, "HARNESS_ROLE": "lead"}
    )
    timed_push(clone, {"NOTES.md": "start\n"}, "measure the first baseline")
    return clone


def bench_pushes(base: Path, rounds: int, tests: int) -> dict[str, list[float]]:
    clone = project(base, tests)
    times: dict[str, list[float]] = {"code": [], "new test": [], "edited test": []}
    for r in range(rounds):
        times["code"].append(timed_push(clone, {"app.py": f"def value(i):\n    return i  # {r}\n"}, "code"))
        new = f"from app import value\n\n\ndef test_new_{r}():\n    assert value(1) == 1\n"
        times["new test"].append(timed_push(clone, {f"tests/test_new_{r}.py": new}, "a test"))
        edited = (clone / "tests" / "test_00.py").read_text().replace("value(0) == 0", f"value(0) == 0  # {r}")
        times["edited test"].append(timed_push(clone, {"tests/test_00.py": edited}, "a test refactor"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--pushes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-verifier-") as tmp:
        base = Path(tmp)
        hermetic_env(base / "home")
        plain, gated = bench_lock_only(base / "locks", args.pushes)
        print(f"(a) lock-only push: unhooked {plain * 1000:.0f} ms, gated {gated * 1000:.0f} ms = {gated / plain:.2f}x")
        times = bench_pushes(base / "pushes", args.rounds, args.tests)
        code = statistics.median(times["code"])
        for name, values in times.items():
            median = statistics.median(values)
            count = f"{args.tests} tests: {median:.2f} s (median of {len(values)})"
            print(f"(b) {name:12} push, {count} = {median / code:.2f}x")


if __name__ == "__main__":
    main()
