"""`harness report` of a real fleet's run, checked in headless Chromium: every plot present
(DOM and pixels), refused holds drawn apart from released ones, claims binned for a short
run, and the panels honest about what was read.

The run is the demo's (a local fleet, a gated upstream, a task the gate refuses), kept with
--dir; the report is made from its work clone with no option: the fleet's record on the
upstream leads it to every agent's events.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from harness.history.report import HOLD_KINDS, PLOT_COLORS, bin_width
from tests.conftest import git, run_harness
from tests.test_report import NS, _parse_strict, _pixels_of, _screenshot

SVG = "{http://www.w3.org/2000/svg}"


def test_a_fleets_report_draws_refused_holds_apart_in_chromium(tmp_path: Path) -> None:
    kept = tmp_path / "demo"
    demo = run_harness("demo", "--agents", "2", "--tasks", "5", "--delay", "0.05", "--dir", str(kept), cwd=tmp_path,
                       timeout=900)  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    out = tmp_path / "fleet.html"
    proc = run_harness("report", str(out), cwd=kept / "work")
    assert proc.returncode == 0, proc.stderr
    page = out.read_bytes()

    tree = _parse_strict(page)
    figures = {f.get("id"): f for f in tree.iter(f"{NS}figure")}  # type: ignore[attr-defined]
    assert sorted(figures) == sorted(f"plot-{key}" for key in PLOT_COLORS)
    for key, figure in figures.items():
        assert figure.find(f"{SVG}svg") is not None, key
    # A run of a minute or two is binned by seconds, not drawn as one bar for the hour.
    claims = [int(t) for t in git(kept / "work-upstream.git", "log", "--format=%ct", "--grep=^claim:", "main").split()]
    span = max(claims) - min(claims)
    width, name = bin_width(span)
    assert width < 3600 and span < 900
    caption = figures["plot-claims-per-hour"].find(f"{NS}figcaption").text
    assert caption == f"Claims per {name}"
    bars = list(figures["plot-claims-per-hour"].iter(f"{SVG}rect"))
    assert len(bars) >= 2 or span < width
    # Every hold in the timelines says how it ended; the refused ones are their own kind and colour.
    holds = list(figures["plot-timelines"].iter(f"{SVG}rect"))
    kinds = {rect.get("class") for rect in holds}
    assert {"hold-refused", "hold-released"} <= kinds, kinds
    refused = [r for r in holds if r.get("class") == "hold-refused"]
    assert {r.get("fill") for r in refused} == {HOLD_KINDS["refused"][0]} != {HOLD_KINDS["released"][0]}
    titles = [r.find(f"{SVG}title").text or "" for r in refused]
    assert all(t.startswith("split-on-commas:") and "refused by the gate" in t for t in titles), titles
    legend = page.decode()
    assert "refused by the gate" in legend and "handed back" in legend
    # The builtin agent costs nothing: the spend panel says so, and how much it read.
    spend = re.search(r'id="plot-spend".*?</figure>', legend, re.S)
    assert spend and re.search(r"no cost in the \d+ iteration\(s\) read", spend.group(0)), spend

    shot = tmp_path / "fleet.png"
    _screenshot(out, shot, tmp_path / "chromium-profile")
    image = Image.open(shot)
    wanted = {**PLOT_COLORS, "refused holds": HOLD_KINDS["refused"][0]}
    wanted.pop("spend")  # no cost: an honest empty panel instead
    missing = {key: color for key, color in wanted.items() if _pixels_of(image, color) < 20}
    assert not missing, f"not visible in {shot}: {missing}"


def test_a_report_that_read_no_events_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    out = tmp_path / "r.html"
    assert run_harness("report", str(out), cwd=repo).returncode == 0
    spend = re.search(r'id="plot-spend".*?</figure>', out.read_text(), re.S)
    assert spend and "no events read" in spend.group(0)


def test_the_claims_bin_follows_the_runs_length() -> None:
    assert bin_width(40) == (10, "10 seconds")
    assert bin_width(12 * 60) == (60, "minute")  # the 12-minute run: 12 bars, not 1
    assert bin_width(6 * 3600) == (900, "15 minutes")
    assert bin_width(86400) == (3600, "hour")
    assert bin_width(3 * 86400) == (6 * 3600, "6 hours")
    assert bin_width(400 * 86400) == (7 * 86400, "week")
