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

Verdicts may be cached across runs (``cache_file``), keyed on everything that decides
one: the command, the candidate subset and ``cache_key`` (the candidate tool's hash).
Confirmation probes (``fresh``) never read the cache. Each probe's output and candidate
list are kept under ``logs/NNNN/`` (the last ``KEEP_LOGS`` probes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
KEEP_LOGS = 64  # probes whose logs are kept (the latest)
NAMED = 3  # progress lines name the units when this few are taken from the candidate (or left out)


@dataclass(frozen=True)
class ProbeSettings:
    command: str
    cwd: Path
    timeout: float | None = None
    repeats: int = 2  # tries in all for a probe that cannot tell, crashes or hangs
    timeout_is_bad: bool = False
    cache_file: Path | None = None
    cache_key: str = ""  # what else decides a verdict, e.g. the candidate tool's hash
    logs: Path | None = None  # keep each probe's log here


@dataclass(frozen=True)
class ProbeRecord:
    """One probe as the user sees it in the progress lines and in ``--json``."""

    number: int
    subset: frozenset[int]
    verdict: Verdict
    reason: str  # "exit 0", "exit 125 (cannot tell)", "timed out after 5s", ...
    seconds: float
    tries: int
    cached: bool = False
    kind: str = ""  # "sanity" or "confirmation" for probes that never read the cache
    log: Path | None = None

    @property
    def size(self) -> int:
        return len(self.subset)


@dataclass
class ProbeRunner:
    units: Sequence[str]
    settings: ProbeSettings
    jobs: int = 1
    progress: Callable[[str], None] | None = None
    records: list[ProbeRecord] = field(default_factory=list)
    _cache: dict[str, str] = field(default_factory=dict)
    _from_cache: set[frozenset[int]] = field(default_factory=set)  # last answered from the cache
    _used_cache: set[frozenset[int]] = field(default_factory=set)  # ever answered from the cache
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._cache = load_cache(self.settings.cache_file)

    def __call__(self, subsets: Round) -> list[Verdict]:
        """Run one round: up to ``jobs`` probes at once, results in the order asked."""
        return self._round(subsets, kind="")

    def fresh(self, subsets: Round) -> list[Verdict]:
        """A round that always runs, never answered from the cache: the sanity probes (the
        first round of all) and the confirmation probes."""
        return self._round(subsets, kind="confirmation" if self.records else "sanity")

    def cached(self, subset: frozenset[int]) -> bool:
        """Whether the last answer for ``subset`` came from the cache."""
        return subset in self._from_cache

    def forget(self, subsets: Sequence[frozenset[int]]) -> None:
        """Drop these verdicts, and every one this run took from the cache, from the cache:
        after fresh probes contradicted the answer built on them, none decides anything."""
        for subset in [*subsets, *self._used_cache]:
            self._cache.pop(self._key(subset), None)
        save_cache(self.settings.cache_file, self._cache)

    def _round(self, subsets: Round, kind: str) -> list[Verdict]:
        workers = max(1, min(self.jobs, len(subsets)))
        slots = [i % workers for i in range(len(subsets))]
        if workers == 1:
            records = [self.probe(s, 0, kind) for s in subsets]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                records = list(pool.map(self.probe, subsets, slots, [kind] * len(subsets)))
        self.records.extend(records)
        save_cache(self.settings.cache_file, self._cache)
        return [r.verdict for r in records]

    def probe(self, subset: frozenset[int], slot: int, kind: str = "") -> ProbeRecord:
        """One probe; ``kind`` set: run it even if the cache knows the answer."""
        names = sorted(self.units[i] for i in subset)
        key = self._key(subset)
        number = self._next_number()
        if not kind and key in self._cache:
            record = ProbeRecord(number, subset, Verdict(self._cache[key]), "cached", 0.0, 0, cached=True)
            self._from_cache.add(subset)
            self._used_cache.add(subset)
        else:
            record = self._run_with_repeats(number, subset, names, slot, kind)
            self._from_cache.discard(subset)
            if record.verdict is not Verdict.UNDECIDED and kind != "confirmation":
                self._cache[key] = record.verdict.value
        self._report(record)
        return record

    def _key(self, subset: frozenset[int]) -> str:
        return cache_key(self.settings.command, self.settings.cache_key, sorted(self.units[i] for i in subset))

    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _run_with_repeats(
        self, number: int, subset: frozenset[int], names: list[str], slot: int, kind: str
    ) -> ProbeRecord:
        started = time.monotonic()
        keep = keep_dir(self.settings.logs, number)
        tries = max(1, self.settings.repeats)
        verdict, reason, attempt = Verdict.UNDECIDED, "", 0
        while attempt < tries and verdict is Verdict.UNDECIDED:
            attempt += 1
            verdict, reason = run_once(self.settings, names, slot, keep)
        log = keep / "output.log" if keep is not None else None
        seconds = time.monotonic() - started
        return ProbeRecord(number, subset, verdict, reason, seconds, attempt, kind=kind, log=log)

    def _report(self, record: ProbeRecord) -> None:
        if self.progress is None:
            return
        tries = f", {record.tries} tries" if record.tries > 1 else ""
        timing = "" if record.cached else f", {record.seconds:.1f}s{tries}"
        what = f" ({record.kind})" if record.kind else ""
        self.progress(
            f"probe {record.number}{what}: {record.size}/{len(self.units)} units from the candidate"
            f"{named(self.units, record.subset)} -> {record.verdict.value} ({record.reason}{timing})"
        )


def named(units: Sequence[str], subset: frozenset[int]) -> str:
    """The units of a progress line, when few are in the subset or few are left out."""
    if 0 < len(subset) <= NAMED:
        return " (" + ", ".join(units[i] for i in sorted(subset)) + ")"
    left = [units[i] for i in range(len(units)) if i not in subset]
    if 0 < len(left) <= NAMED and subset:
        return " (all but " + ", ".join(left) + ")"
    return ""


def keep_dir(logs: Path | None, number: int) -> Path | None:
    """``logs/NNNN/`` for this probe; the oldest beyond ``KEEP_LOGS`` goes."""
    if logs is None:
        return None
    keep = logs / f"{number:04d}"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(logs / f"{number - KEEP_LOGS:04d}", ignore_errors=True)
    return keep


def run_once(settings: ProbeSettings, names: list[str], slot: int, keep: Path | None = None) -> tuple[Verdict, str]:
    """One run of the probe command; the verdict and a few words saying why. The scratch
    directory goes; the output log and the candidate list stay in ``keep``."""
    with tempfile.TemporaryDirectory(prefix="harness-bisect-") as scratch:
        candidate = Path(scratch) / "candidate.txt"
        candidate.write_text("".join(f"{name}\n" for name in names))
        if keep is not None:
            shutil.copyfile(candidate, keep / "candidate.txt")
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
                ["/bin/sh", "-c", settings.command],
                settings.cwd,
                settings.timeout,
                env,
                output=(keep or Path(scratch)) / "output.log",
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


def cache_key(command: str, key: str, names: list[str]) -> str:
    """Keyed by what decides a verdict: the command, the user's key (the candidate tool's
    hash) and the sorted candidate subset. Change any of them and the cache starts afresh."""
    digest = hashlib.sha256(b"harness-bisect-v2\0" + command.encode() + b"\0" + key.encode())
    for name in names:
        digest.update(b"\0" + name.encode())
    return digest.hexdigest()


def file_key(path: Path) -> str:
    """``--candidate PATH``: the candidate tool's content hash, for the cache key."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"--candidate {path}: cannot read it ({exc}); give the candidate tool's file") from exc


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
