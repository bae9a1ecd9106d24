"""The demo's embedded sample project, ``textkit``, and its task specs.

The tasks are written for the builtin scripted agent (see harness/agents/builtin_agent.py):
each body holds edit directives. The mix exercises the whole loop: independent features,
docs tasks that depend on them (and append to the same README section: additive
conflicts), two tasks that rewrite the same lines (a same-lines conflict when they run at
once), and one whose change breaks a passing test (the gate refuses its push).
"""

from __future__ import annotations

from harness.tasks.specs import TaskSpec

FILES = {
    "README.md": "# textkit\n\nSmall text helpers, built by a fleet of scripted agents.\n\n## Features\n\n",
    "textkit/__init__.py": '"""textkit: small text helpers."""\n',
    "textkit/core.py": "def words(text: str) -> list[str]:\n    return text.split()\n",
    "tests/__init__.py": "",
    "tests/test_core.py": (
        "from textkit.core import words\n\n\n"
        "def test_words_splits_on_whitespace() -> None:\n"
        '    assert words("a b  c") == ["a", "b", "c"]\n'
    ),
    "pyproject.toml": '[project]\nname = "textkit"\nversion = "0.1.0"\n',
}


CONFIG = """\
version: 1
branch: main
locks:
  lease_seconds: 600
  grace_seconds: 60
  clock_skew_seconds: 30
  heartbeat_seconds: 5
loop:
  idle_backoff_seconds: 0.2
  idle_backoff_max_seconds: 2
tests:
  runner: junit
  command: python3 tools/run_tests.py {junit}
"""

# A tiny test runner (standard library only, ~50 ms) so the gate's runs stay cheap on a laptop.
RUN_TESTS = """\
import importlib, pathlib, sys, traceback
from xml.sax.saxutils import quoteattr

sys.path.insert(0, str(pathlib.Path.cwd()))
cases = []
for path in sorted(pathlib.Path("tests").glob("test_*.py")):
    module = importlib.import_module(f"tests.{path.stem}")
    for name in sorted(n for n in dir(module) if n.startswith("test_")):
        try:
            getattr(module, name)()
            cases.append((path.stem, name, ""))
        except Exception:
            cases.append((path.stem, name, traceback.format_exc(limit=2)))
failed = sum(1 for c in cases if c[2])
with open(sys.argv[1], "w") as out:
    out.write(f'<testsuite name="textkit" tests="{len(cases)}" failures="{failed}">')
    for cls, name, error in cases:
        out.write(f"<testcase classname={quoteattr('tests.' + cls)} name={quoteattr(name)}>")
        if error:
            out.write(f"<failure message={quoteattr(error.splitlines()[-1])}>{quoteattr(error)}</failure>")
        out.write("</testcase>")
    out.write("</testsuite>")
sys.exit(1 if failed else 0)
"""

# name, body of a one-line function of ``text``
FEATURES = [
    ("shout", "text.upper()"),
    ("whisper", "text.lower()"),
    ("reverse", "text[::-1]"),
    ("title", "text.title()"),
    ("strip", "text.strip()"),
    ("count", "str(len(text.split()))"),
    ("first", "text.split()[0] if text.split() else ''"),
    ("last", "text.split()[-1] if text.split() else ''"),
    ("snake", "'_'.join(text.lower().split())"),
    ("kebab", "'-'.join(text.lower().split())"),
    ("camel", "''.join(w.title() for w in text.split())"),
    ("vowels", "''.join(c for c in text if c in 'aeiou')"),
    ("consonants", "''.join(c for c in text if c.isalpha() and c not in 'aeiou')"),
    ("squash", "' '.join(text.split())"),
    ("initials", "''.join(w[0] for w in text.split())"),
    ("double", "text + text"),
    ("swap", "text.swapcase()"),
    ("digits", "''.join(c for c in text if c.isdigit())"),
    ("center", "text.center(20)"),
    ("dots", "'.'.join(text.split())"),
    ("sorted", "' '.join(sorted(text.split()))"),
    ("unique", "' '.join(dict.fromkeys(text.split()))"),
    ("longest", "max(text.split(), key=len) if text.split() else ''"),
    ("shortest", "min(text.split(), key=len) if text.split() else ''"),
    ("rot13", "text.translate(str.maketrans('abcdefghijklmnopqrstuvwxyz', 'nopqrstuvwxyzabcdefghijklm'))"),
    ("nospace", "text.replace(' ', '')"),
    ("pad", "f'[{text}]'"),
    ("hyphen", "text.replace(' ', '-')"),
    ("quote", "repr(text)"),
    ("length", "str(len(text))"),
]


def _feature(name: str, expr: str, delay: float) -> TaskSpec:
    body = (
        f"Add textkit.{name}.{name}(text) and a test for it.\n\n@sleep {delay}\n"
        f"@write textkit/{name}.py\ndef {name}(text: str) -> str:\n    return {expr}\n@end\n"
        f"@write tests/test_{name}.py\nfrom textkit.{name} import {name}\n\n\n"
        f"def test_{name}_returns_text() -> None:\n    assert isinstance({name}('hello world'), str)\n@end\n"
    )
    return TaskSpec(id=f"add-{name}", title=f"Add the {name} helper", body=body, files=(f"textkit/{name}.py",))


def _docs(name: str, delay: float) -> TaskSpec:
    body = f"Document {name} in the README.\n\n@sleep {delay}\n@append README.md\n- `{name}(text)`\n@end\n"
    return TaskSpec(id=f"docs-{name}", title=f"Document {name}", body=body, depends_on=(f"add-{name}",), role=None)


def _same_lines(which: str, delay: float) -> TaskSpec:
    body = (
        f"Write the banner ({which} version).\n\n@sleep {delay * 4}\n"
        f"@write textkit/banner.py\nBANNER = 'textkit, {which} edition'\n@end\n"
    )
    return TaskSpec(id=f"banner-{which}", title=f"Banner, {which} wording", body=body, priority=100)


def _breaking(delay: float) -> TaskSpec:
    body = (
        "Split words on commas (this breaks test_words_splits_on_whitespace: the gate must refuse it).\n\n"
        f"@sleep {delay}\n@replace textkit/core.py\n    return text.split()\n@with\n    return text.split(',')\n@end\n"
    )
    return TaskSpec(id="split-on-commas", title="Split words on commas", body=body, priority=50)


def demo_tasks(count: int, delay: float) -> list[TaskSpec]:
    """``count`` specs: 2 same-lines, 1 breaking, the rest features with about a third docs."""
    rest = count - 3
    docs = rest // 3
    features = min(rest - docs, len(FEATURES))
    docs = rest - features
    specs = [_same_lines("short", delay), _same_lines("long", delay), _breaking(delay)]
    specs += [_feature(name, expr, delay) for name, expr in FEATURES[:features]]
    specs += [_docs(name, delay) for name, _ in FEATURES[: min(docs, features)]]
    return specs[:count]
