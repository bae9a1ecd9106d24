"""`harness report OUT.html`: valid, self-contained HTML whose every plot renders in Chromium.

The page is parsed by html5lib in strict mode (any parse error fails), checked for anything
that would need the network, then screenshotted by headless Chromium; each plot has its
own colour, and the screenshot must contain it — a plot that did not render is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import html5lib  # type: ignore[import-untyped]
import pytest
from PIL import Image

from harness.gate.baseline import Baseline, BaselineStore
from harness.history.report import PLOT_COLORS
from harness.loop.events import IterationEvent, IterationOutcome, append_event
from tests.conftest import git, run_harness
from tests.test_history import T0, build_messy

NS = "{http://www.w3.org/1999/xhtml}"


def _events(path: Path) -> Path:
    """A loop's events, as the loops write them: spend accumulating."""
    outcomes = [IterationOutcome.DONE, IterationOutcome.LOST, IterationOutcome.REFUSED]
    for i in range(12):
        event = IterationEvent(
            agent=f"core-dev-0{i % 3 + 1}",
            role="core-dev",
            iteration=i // 3 + 1,
            started_at=T0 + 400 * i,
            task="a",
            outcome=outcomes[i % 3],
            input_tokens=1000 * i,
            output_tokens=100,
            cost_usd=0.4 + 0.1 * i,
        )
        append_event(path, event)
    return path


def _gated_upstream(repo: Path) -> Path:
    """Give ``repo`` a bare upstream whose gate saw more tests pass at each tip of main."""
    upstream = repo.parent / "upstream.git"
    git(repo.parent, "clone", "-q", "--bare", str(repo), str(upstream))
    git(repo, "remote", "add", "origin", str(upstream))
    git(repo, "fetch", "-q", "origin")
    store = BaselineStore(upstream / "harness" / "baseline")
    for i, tip in enumerate(git(repo, "rev-list", "--first-parent", "--reverse", "main").split()):
        store.save(Baseline(tip, frozenset(f"t{n}" for n in range(50 + 4 * i))))
    return repo


def _parse_strict(page: bytes) -> object:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    return parser.parse(page)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed for this test: apt-get install -y chromium")


def _screenshot(page: Path, shot: Path, profile: Path) -> None:
    argv = [
        _chromium(),
        "--headless",
        "--no-sandbox",  # tests run as root in CI containers
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1280,1900",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), f"chromium made no screenshot (exit {proc.returncode}): {proc.stderr[-800:]}"


def _pixels_of(image: Image.Image, hex_color: str) -> int:
    target = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    counts = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    return next((n for n, color in counts if color == target), 0)


def test_report_is_valid_html_and_every_plot_renders_in_chromium(tmp_path: Path) -> None:
    repo = _gated_upstream(build_messy(tmp_path / "messy"))
    out = tmp_path / "report.html"
    proc = run_harness("report", str(out), "--events", str(_events(tmp_path / "events.jsonl")), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    page = out.read_bytes()

    tree = _parse_strict(page)  # raises on the first parse error
    figures = [f for f in tree.iter(f"{NS}figure") if "plot" in f.get("class", "")]  # type: ignore[attr-defined]
    assert sorted(f.get("id") for f in figures) == sorted(f"plot-{key}" for key in PLOT_COLORS)
    for figure in figures:
        assert figure.find("{http://www.w3.org/2000/svg}svg") is not None, figure.get("id")
    text = page.decode()
    assert "<script" not in text and "<link" not in text and "src=" not in text
    assert text.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http") == 0  # nothing to fetch
    assert "no data" not in text and "no gate baselines" not in text  # every plot has something to show

    shot = tmp_path / "report.png"
    _screenshot(out, shot, tmp_path / "chromium-profile")
    print(f"\nreport screenshot: {shot}")
    image = Image.open(shot)
    missing = {key: color for key, color in PLOT_COLORS.items() if _pixels_of(image, color) < 40}
    assert not missing, f"plots not visible in {shot}: {missing}"


def test_report_of_an_empty_history_still_has_every_plot(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    out = tmp_path / "sub" / "empty.html"
    proc = run_harness("report", str(out), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    tree = _parse_strict(out.read_bytes())
    ids = [f.get("id") for f in tree.iter(f"{NS}figure")]  # type: ignore[attr-defined]
    assert len(ids) == len(PLOT_COLORS)
    assert out.read_text().count("no data") + out.read_text().count("no claims") >= 2
