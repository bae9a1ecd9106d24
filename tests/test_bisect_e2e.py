"""End to end: a small C project built with a real oracle (gcc -O0) and a real candidate
that really miscompiles some files (gcc -O2 -ffast-math, which assumes no NaN or inf and so
folds ``x != x`` and ``isinf(x)`` to false). The bisection must name exactly those files."""

from __future__ import annotations

import json
import shutil
import subprocess
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


# -- a candidate with injected miscompiles: gcc -D... ----------------------------------------
# The candidate compiler is gcc with macros that change a constant in the units that use
# them: hash.c's seed and scale.c's factor, and slack_a.c/slack_b.c's slack, which is
# harmless in one of them and breaks the check in both (a pair failing only together).

DEFINE_SOURCES = {
    "main.c": """
#include <stdio.h>
unsigned hash(const char *); int scale(int); int slack_a(void); int slack_b(void); long fib(int); int sum(int);
int main(void) {
    printf("hash %u\\nscale %d\\nslack %s\\nfib %ld\\nsum %d\\n", hash("harness"), scale(21),
           slack_a() + slack_b() > 1 ? "over" : "ok", fib(20), sum(10));
    return 0;
}
""",
    "hash.c": (
        "#ifndef HASH_SEED\n#define HASH_SEED 5381\n#endif\n"
        "unsigned hash(const char *s) { unsigned h = HASH_SEED; while (*s) h = h * 33 + (unsigned char)*s++; "
        "return h; }\n"
    ),
    "scale.c": "#ifndef SCALE\n#define SCALE 2\n#endif\nint scale(int x) { return x * SCALE; }\n",
    "slack_a.c": "#ifndef SLACK\n#define SLACK 0\n#endif\nint slack_a(void) { return SLACK; }\n",
    "slack_b.c": "#ifndef SLACK\n#define SLACK 0\n#endif\nint slack_b(void) { return SLACK; }\n",
    "fib.c": "long fib(int n) { long a = 0, b = 1; while (n-- > 0) { long t = a + b; a = b; b = t; } return a; }\n",
    "sum.c": "int sum(int n) { int s = 0; for (int i = 1; i <= n; i++) s += i; return s; }\n",
}

DEFINE_EXPECTED = "hash 871999705\nscale 42\nslack ok\nfib 6765\nsum 55\n"

CANDIDATE_CC = '#!/bin/sh\nexec gcc -DHASH_SEED=5387 -DSCALE=3 -DSLACK=1 "$@"\n'

# The probe as docs/bisect.md writes it: guarded, builds only in its scratch directory.
SAFE_PROBE = """#!/bin/sh
set -eu
: "${HARNESS_BISECT_SCRATCH:?run by harness bisect (or set it to an empty scratch directory)}"
: "${HARNESS_BISECT_CANDIDATE:?run by harness bisect (or set it to a file listing candidate units)}"
out="$HARNESS_BISECT_SCRATCH"
objs=""
for src in $(grep -v '^#' units.txt); do
    if grep -qx "$src" "$HARNESS_BISECT_CANDIDATE"; then cc=./candidate-cc; else cc=gcc; fi
    $cc -O1 -c "$src" -o "$out/${src%.c}.o" || exit 125   # a unit that does not build: cannot tell
    objs="$objs $out/${src%.c}.o"
done
gcc $objs -o "$out/prog" || exit 125
"$out/prog" > "$out/actual.txt" || exit 1
cmp -s "$out/actual.txt" expected.txt
"""


@pytest.fixture
def define_project(tmp_path: Path) -> Path:
    root = tmp_path / "build"
    root.mkdir()
    for name, text in DEFINE_SOURCES.items():
        (root / name).write_text(text)
    (root / "units.txt").write_text("\n".join(DEFINE_SOURCES) + "\n")
    (root / "expected.txt").write_text(DEFINE_EXPECTED)
    (root / "probe.sh").write_text(SAFE_PROBE)
    (root / "candidate-cc").write_text(CANDIDATE_CC)
    (root / "candidate-cc").chmod(0o755)
    return root


def test_an_injected_miscompile_is_found_and_each_task_recipe_reproduces_it(
    define_project: Path, work: WorkRepo, tmp_path: Path
) -> None:
    result = run_harness(
        "bisect", "--units", "units.txt", "--probe", "sh probe.sh", "--candidate", "candidate-cc", "-j", "2",
        "--json", "--emit-tasks", "--repo", str(work.first_clone), "--timeout", "120",
        cwd=define_project, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "found"
    culprits = {c if isinstance(c, str) else tuple(c) for c in data["culprits"]}
    assert culprits == {"hash.c", "scale.c", ("slack_a.c", "slack_b.c")}
    assert 0 < data["confirmation_probes"] <= 4 + 2
    specs = sorted((work.first_clone / "tasks").glob("bisect-*.yaml"))
    assert [p.name for p in specs] == ["bisect-hash.c.yaml", "bisect-scale.c.yaml", "bisect-slack_a.c--slack_b.c.yaml"]
    for path in specs:
        body = parse_spec(f"tasks/{path.name}", path.read_bytes()).body
        recipe = "\n".join(line[4:] for line in body.splitlines() if line.startswith("    "))
        # Pasted into a shell somewhere else, as written: the probe fails for the culprit...
        ran = subprocess.run(["sh", "-c", recipe], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert ran.returncode == 1, (path.name, ran.stderr)
        # ...and passes for an innocent unit in its place (not a probe that fails for anything).
        innocent = recipe.replace("'hash.c'", "'fib.c'").replace("'scale.c'", "'sum.c'").replace("'slack_b.c'", "")
        ran = subprocess.run(["sh", "-c", innocent], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert ran.returncode == 0, (path.name, ran.stderr)


def test_the_safe_probe_refuses_to_run_by_hand_without_a_scratch_directory(define_project: Path) -> None:
    ran = subprocess.run(["sh", "probe.sh"], cwd=define_project, capture_output=True, text=True, check=False)
    assert ran.returncode != 0 and "HARNESS_BISECT_SCRATCH" in ran.stderr
    assert not list(define_project.glob("*.o")) and not (Path("/") / "prog").exists()
