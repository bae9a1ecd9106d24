"""End to end: a small C project built with a real oracle (gcc -O0) and a real candidate
that really miscompiles some files (gcc -O2 -ffast-math, which assumes no NaN or inf and so
folds ``x != x`` and ``isinf(x)`` to false). The bisection must name exactly those files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.tasks.specs import parse_spec
from tests.conftest import WorkRepo, run_harness

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc (Debian package gcc)")

SOURCES = {
    "main.c": """
#include <math.h>
#include <stdio.h>
int add(int, int); long fib(int); int count_nans(const double *, int); int count_infs(const double *, int);
double poly(double); int digits(long); double mean_finite(const double *, int); unsigned checksum(const char *);
int main(void) {
    double v[6] = {1.0, NAN, 2.0, INFINITY, -INFINITY, 4.0};
    printf("add %d\\nfib %ld\\nnans %d\\ninfs %d\\n", add(2, 3), fib(20), count_nans(v, 6), count_infs(v, 6));
    printf("poly %.1f\\ndigits %d\\nmean %.2f\\nsum %u\\n", poly(3.0), digits(123456L), mean_finite(v, 6),
           checksum("harness"));
    return 0;
}
""",
    "add.c": "int add(int a, int b) { return a + b; }\n",
    "fib.c": "long fib(int n) { long a = 0, b = 1; while (n-- > 0) { long t = a + b; a = b; b = t; } return a; }\n",
    # Miscompiled by -ffast-math: x != x is "never true" without NaNs.
    "nan_count.c": (
        "int count_nans(const double *v, int n) {\n"
        "    int c = 0;\n    for (int i = 0; i < n; i++) if (v[i] != v[i]) c++;\n    return c;\n}\n"
    ),
    # Miscompiled by -ffast-math: isinf is "never true" without infinities.
    "inf_count.c": (
        "#include <math.h>\nint count_infs(const double *v, int n) {\n"
        "    int c = 0;\n    for (int i = 0; i < n; i++) if (isinf(v[i])) c++;\n    return c;\n}\n"
    ),
    # Floating point too, but exact: fast-math builds it correctly.
    "poly.c": "double poly(double x) { return 2.0 * x * x + 3.0 * x + 1.0; }\n",
    "digits.c": "int digits(long x) { int d = 1; while (x >= 10) { x /= 10; d++; } return d; }\n",
    # Tests finiteness on the bits, not with FP compares: safe under fast-math.
    "mean.c": (
        "#include <string.h>\n#include <stdint.h>\n"
        "static int finite(double x) { uint64_t b; memcpy(&b, &x, 8); return ((b >> 52) & 0x7ff) != 0x7ff; }\n"
        "double mean_finite(const double *v, int n) {\n"
        "    double s = 0; int c = 0;\n    for (int i = 0; i < n; i++) if (finite(v[i])) { s += v[i]; c++; }\n"
        "    return c ? s / c : 0;\n}\n"
    ),
    "checksum.c": (
        "unsigned checksum(const char *s) {\n"
        "    unsigned h = 5381;\n    while (*s) h = h * 33 + (unsigned char)*s++;\n    return h;\n}\n"
    ),
}

EXPECTED = "add 5\nfib 6765\nnans 1\ninfs 2\npoly 28.0\ndigits 6\nmean 2.33\nsum 871999705\n"

PROBE = """#!/bin/sh
# Build units named in $HARNESS_BISECT_CANDIDATE with the candidate, the rest with the oracle.
set -e
out="$HARNESS_BISECT_SCRATCH"
objs=""
for src in $(grep -v '^#' units.txt); do
    if grep -qx "$src" "$HARNESS_BISECT_CANDIDATE"; then flags="-O2 -ffast-math"; else flags="-O0"; fi
    gcc $flags -c "$src" -o "$out/${src%.c}.o"
    objs="$objs $out/${src%.c}.o"
done
gcc $objs -o "$out/prog" -lm
"$out/prog" > "$out/actual.txt"
cmp -s "$out/actual.txt" expected.txt
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "cproject"
    root.mkdir()
    for name, text in SOURCES.items():
        (root / name).write_text(text)
    (root / "units.txt").write_text("\n".join(SOURCES) + "\n")
    (root / "expected.txt").write_text(EXPECTED)
    (root / "probe.sh").write_text(PROBE)
    return root


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_bisection_names_exactly_the_miscompiled_files(project: Path, jobs: str) -> None:
    result = run_harness(
        "bisect", "--units", "units.txt", "--probe", "sh probe.sh", "-j", jobs, "--json", "--timeout", "60",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert sorted(data["culprits"]) == ["inf_count.c", "nan_count.c"]
    assert data["confirmed"] is True and data["undecided"] == []


def test_each_miscompiled_file_becomes_a_task_an_agent_can_claim(project: Path, work: WorkRepo) -> None:
    result = run_harness(
        "bisect", "--units", "units.txt", "--probe", "sh probe.sh", "--emit-tasks", "--repo", str(work.first_clone),
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (work.first_clone / "tasks").glob("bisect-*.yaml"))
    assert names == ["bisect-inf_count.c.yaml", "bisect-nan_count.c.yaml"]
    spec = parse_spec("tasks/bisect-nan_count.c.yaml", (work.first_clone / "tasks" / names[1]).read_bytes())
    assert spec.title.startswith("Candidate miscompiles nan_count.c")
