"""The probe runner for oracle bisection: runs the user's command on one candidate subset.

The subset is written to a file (one unit per line) named by ``$HARNESS_BISECT_CANDIDATE``;
the command's exit status is read as ``git bisect run`` reads it: 0 good, 125 cannot
tell, 1..127 bad. A status above 127 or a signal means the probe itself crashed and a
timeout means it hung: neither is an answer, so both are retried and then reported as
undecided — never guessed into good or bad (``timeout_is_bad`` opts into reading a hang
as bad, for tools whose miscompiled output loops). Each probe runs in its own session so
a timeout kills its whole process tree, and gets a private scratch directory
(``$HARNESS_BISECT_SCRATCH``) and a slot number (``$HARNESS_BISECT_SLOT``, 0..jobs-1) so
parallel builds need not share a build directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness.bisect.search import Round, Verdict
from harness.errors import ConfigError
from harness.runtime import process

GOOD_EXIT = 0
SKIP_EXIT = 125


@dataclass(frozen=True)
class ProbeSettings:
    command: str
    cwd: Path
    timeout: float | None = None
    repeats: int = 2  # tries in all for a probe that cannot tell, crashes or hangs
    timeout_is_bad: bool = False
    cache_file: Path | None = None


@dataclass(frozen=True)
class ProbeRecord:
    """One probe as the user sees it in the progress lines and in ``--json``."""

    size: int
    verdict: Verdict
    reason: str  # "exit 0", "exit 125 (cannot tell)", "timed out after 5s", ...
    seconds: float
    tries: int
    cached: bool = False


@dataclass
class ProbeRunner:
    units: Sequence[str]
    settings: ProbeSettings
    jobs: int = 1
    progress: Callable[[str], None] | None = None
    records: list[ProbeRecord] = field(default_factory=list)
    _cache: dict[str, str] = field(default_factory=dict)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._cache = load_cache(self.settings.cache_file)

    def __call__(self, subsets: Round) -> list[Verdict]:
        """Run one round: up to ``jobs`` probes at once, results in the order asked."""
        workers = max(1, min(self.jobs, len(subsets)))
        if workers == 1:
            records = [self.probe(s, 0) for s in subsets]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                records = list(pool.map(self.probe, subsets, [i % workers for i in range(len(subsets))]))
        self.records.extend(records)
        save_cache(self.settings.cache_file, self._cache)
        return [r.verdict for r in records]

    def probe(self, subset: frozenset[int], slot: int) -> ProbeRecord:
        names = sorted(self.units[i] for i in subset)
        key = cache_key(self.settings.command, names)
        if key in self._cache:
            record = ProbeRecord(len(names), Verdict(self._cache[key]), "cached", 0.0, 0, cached=True)
        else:
            record = self._run_with_repeats(names, slot)
            if record.verdict is not Verdict.UNDECIDED:
                self._cache[key] = record.verdict.value
        self._report(record)
        return record

    def _run_with_repeats(self, names: list[str], slot: int) -> ProbeRecord:
        started = time.monotonic()
        tries = max(1, self.settings.repeats)
        verdict, reason = Verdict.UNDECIDED, ""
        for attempt in range(1, tries + 1):
            verdict, reason = run_once(self.settings, names, slot)
            if verdict is not Verdict.UNDECIDED:
                return ProbeRecord(len(names), verdict, reason, time.monotonic() - started, attempt)
        return ProbeRecord(len(names), verdict, reason, time.monotonic() - started, tries)

    def _report(self, record: ProbeRecord) -> None:
        with self._lock:
            self._count += 1
            count = self._count
        if self.progress is None:
            return
        tries = f", {record.tries} tries" if record.tries > 1 else ""
        self.progress(
            f"probe {count}: {record.size}/{len(self.units)} units from the candidate -> "
            f"{record.verdict.value} ({record.reason}, {record.seconds:.1f}s{tries})"
        )


def run_once(settings: ProbeSettings, names: list[str], slot: int) -> tuple[Verdict, str]:
    """One run of the probe command; the verdict and a few words saying why."""
    with tempfile.TemporaryDirectory(prefix="harness-bisect-") as scratch:
        candidate = Path(scratch) / "candidate.txt"
        candidate.write_text("".join(f"{name}\n" for name in names))
        env = {
            **os.environ,
            "HARNESS_BISECT_CANDIDATE": str(candidate),
            "HARNESS_BISECT_SCRATCH": scratch,
            "HARNESS_BISECT_SLOT": str(slot),
        }
        try:
            # Its own process group: a timeout kills the whole tree, and nothing the probe
            # started in the background outlives it.
            done = process.run(
                ["/bin/sh", "-c", settings.command], settings.cwd, settings.timeout, env, output=Path(scratch) / "log"
            )
        except OSError as exc:
            raise ConfigError(f"--probe: cannot start /bin/sh in {settings.cwd}: {exc}") from exc
    if done.timed_out:
        bad = Verdict.BAD if settings.timeout_is_bad else Verdict.UNDECIDED
        return bad, f"timed out after {settings.timeout:g}s"
    assert done.returncode is not None
    return verdict_for(done.returncode, done.last_line())


def verdict_for(code: int, last_line: str) -> tuple[Verdict, str]:
    why = f": {last_line}" if last_line else ""
    if code == GOOD_EXIT:
        return Verdict.GOOD, "exit 0"
    if code == SKIP_EXIT:
        return Verdict.UNDECIDED, f"exit 125, cannot tell{why}"
    if code < 0:
        return Verdict.UNDECIDED, f"probe crashed: {process.signal_name(-code)}{why}"
    if code > 127:
        return Verdict.UNDECIDED, f"probe crashed: exit {code}{why}"
    return Verdict.BAD, f"exit {code}{why}"


def cache_key(command: str, names: list[str]) -> str:
    """Keyed by the command and the sorted candidate subset: a changed probe starts afresh."""
    digest = hashlib.sha256(command.encode())
    for name in names:
        digest.update(b"\0" + name.encode())
    return digest.hexdigest()


def load_cache(path: Path | None) -> dict[str, str]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a bisect cache ({exc}); delete it or pass another --cache") from exc
    if not isinstance(data, dict) or not all(v in ("good", "bad") for v in data.values()):
        raise ConfigError(f"{path}: not a bisect cache (expected key -> good|bad); delete it")
    return {str(k): str(v) for k, v in data.items()}


def save_cache(path: Path | None, cache: dict[str, str]) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
    tmp.replace(path)  # atomic: an interrupted bisection leaves a readable cache
