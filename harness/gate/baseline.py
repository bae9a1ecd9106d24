"""The baseline ratchet: the set of tests that pass at each tip of ``main``.

Where it lives: JSON files ``<upstream.git>/harness/baseline/<tip-sha>.json``, written only
by the pre-receive gate on the upstream itself. They are in no tree and behind no ref, so
no push can add, edit or delete one, and an agent never merges one by accident. The gate
always reads the file of the *old* tip (the one being replaced), never anything from the
pushed content; the new tip's file is the set that passed in the gate run, so a test that
starts passing tightens the ratchet. See docs/testing.md.

Integrity: each file carries an HMAC-SHA256 of its tip, passed set and flaky counts, keyed by
``<upstream.git>/harness/baseline.key`` (32 random bytes, mode 0600, made on the first save).
A file whose MAC is missing or wrong, whose tip is not its name, or that does not parse, is not
trusted: the gate measures that tip again (see docs/gate.md). The directory and files are the
gate's uid's, 0755/0644; the sandboxed tests run as another uid (or see them read-only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import GateSettings
from harness.testing.model import RunResult

KEY_NAME = "baseline.key"


@dataclass(frozen=True)
class Baseline:
    tip: str
    passed: frozenset[str]
    flaky: Mapping[str, int] = field(default_factory=dict)  # test id -> times it failed then passed

    def signed_part(self) -> bytes:
        body = {"tip": self.tip, "passed": sorted(self.passed), "flaky": dict(sorted(self.flaky.items()))}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self, key: bytes) -> dict[str, object]:
        return {
            "tip": self.tip,
            "passed": sorted(self.passed),
            "flaky": dict(sorted(self.flaky.items())),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "hmac": _mac(key, self),
        }


def _mac(key: bytes, baseline: Baseline) -> str:
    return hmac.new(key, baseline.signed_part(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checked:
    """A stored baseline, or why none can be trusted (``problem`` empty: there simply is none)."""

    baseline: Baseline | None
    problem: str = ""


class BaselineStore:
    """One JSON file per tip sha under ``directory``; the key next to the directory.

    ``advisory``: a reader that may not read the key (an agent's clone looking at the upstream's
    baselines to label its own failures) takes files unverified; the gate never does."""

    def __init__(self, directory: Path, advisory: bool = False) -> None:
        self.directory = directory
        self.key_path = directory.parent / KEY_NAME
        self.advisory = advisory

    def path(self, tip: str) -> Path:
        return self.directory / f"{tip}.json"

    def load(self, tip: str) -> Baseline | None:
        return self.check(tip).baseline

    def check(self, tip: str) -> Checked:
        path = self.path(tip)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Checked(None)
        except (OSError, ValueError) as exc:
            return Checked(None, f"{path}: unreadable ({exc})")
        if not isinstance(data, dict):
            return Checked(None, f"{path}: not a baseline of {tip[:12]}")
        passed, flaky = data.get("passed"), data.get("flaky", {})
        if not isinstance(passed, list) or not isinstance(flaky, dict) or data.get("tip") != tip:
            return Checked(None, f"{path}: not a baseline of {tip[:12]}")
        try:
            found = Baseline(tip, frozenset(str(t) for t in passed), {str(k): int(v) for k, v in flaky.items()})
        except (TypeError, ValueError):
            return Checked(None, f"{path}: malformed flaky counts")
        key = self._key(create=False)
        if key is None:
            problem = "" if self.advisory else f"{path}: cannot be verified ({self.key_path} is missing or unreadable)"
            return Checked(found if self.advisory else None, problem)
        if not hmac.compare_digest(str(data.get("hmac", "")), _mac(key, found)):
            return Checked(None, f"{path}: fails its integrity check (edited, or not written by this gate)")
        return Checked(found)

    def save(self, baseline: Baseline) -> Path:
        """Atomically: a reader never sees half a baseline."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o755)
        key = self._key(create=True)
        assert key is not None
        path = self.path(baseline.tip)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(baseline.to_json(key), indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)
        return path

    def _key(self, create: bool) -> bytes | None:
        try:
            key = self.key_path.read_bytes()
        except FileNotFoundError:
            if not create:
                return None
            return self._make_key()
        except OSError:
            return None
        return key if len(key) >= 32 else None

    def _make_key(self) -> bytes:
        """Written aside, then linked into place: a racing gate sees no key or a whole one."""
        key = secrets.token_bytes(32)
        tmp = self.key_path.with_name(f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        try:
            os.link(tmp, self.key_path)
        except FileExistsError:  # another gate made it first: use theirs
            key = self.key_path.read_bytes()
        finally:
            tmp.unlink()
        return key


@dataclass(frozen=True)
class Judgement:
    regressions: dict[str, str]  # test id -> reason
    flaky: tuple[str, ...]  # failed, then passed on a re-run: not regressions
    new_passes: tuple[str, ...]  # passed now, not in the old baseline: the ratchet tightens
    passed: frozenset[str]  # the new tip's baseline, if the push lands

    @property
    def ok(self) -> bool:
        return not self.regressions


Rerun = Callable[[Sequence[str]], RunResult]


def judge(old: Baseline, run: RunResult, rerun: Rerun, settings: GateSettings) -> Judgement:
    """Compare a full run with the old tip's baseline; re-run failures before blaming."""
    now = run.passed()
    lost = sorted(old.passed - now)
    missing = [tid for tid in lost if tid not in run.results]
    remaining = [tid for tid in lost if tid in run.results]
    flaky: list[str] = []
    for _ in range(settings.reruns):
        if not remaining:
            break
        again = rerun(remaining).passed()
        flaky += [tid for tid in remaining if tid in again]
        remaining = [tid for tid in remaining if tid not in again]
    short = old.tip[:12]
    regressions = {}
    for tid in remaining:
        result = run.results[tid]
        detail = f": {result.reason}" if result.reason else ""
        regressions[tid] = f"passed at {short}, now {result.outcome.value}{detail}"
    if not settings.allow_removed_tests:
        for tid in missing:
            regressions[tid] = (
                f"passed at {short}, missing now (deleted or renamed tests need gate.allow_removed_tests)"
            )
    return Judgement(
        regressions=regressions,
        flaky=tuple(flaky),
        new_passes=tuple(sorted(now - old.passed)),
        passed=frozenset(now | set(flaky)),
    )


def next_baseline(old: Baseline | None, tip: str, verdict: Judgement) -> Baseline:
    flaky = dict(old.flaky) if old else {}
    for tid in verdict.flaky:
        flaky[tid] = flaky.get(tid, 0) + 1
    return Baseline(tip, verdict.passed, flaky)
