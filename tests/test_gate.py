"""The gate with real hooks on a real bare upstream: `git push` from real clones."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from harness.gate.baseline import BaselineStore
from harness.gate.check import Regressions, pre_push
from tests.conftest import WorkRepo, commit_file, git, run_harness

CONFIG = """\
version: 1
branch: main
tests:
  runner: files
  glob: "t/*.sh"
  run: "sh {test}"
  workers: 2
  timeout_seconds: 10
gate:
  protected: [harness.yaml, verify/]
  protected_roles: [lead]
"""


@pytest.fixture
def gated(work: WorkRepo, tmp_path: Path) -> WorkRepo:
    """Upstream main with three passing tests and one failing, then the gate installed.

    Test ``t/x.sh`` runs the "code" ``src/x.sh``: a push breaks code, not the tests (which
    the gate judges in their old form)."""
    clone = work.first_clone
    (clone / "harness.yaml").write_text(CONFIG)
    for name, code in {"a": "exit 0\n", "b": "exit 0\n", "c": "exit 0\n", "d": "exit 1\n"}.items():
        for path, body in {f"t/{name}.sh": f"exec sh src/{name}.sh\n", f"src/{name}.sh": code}.items():
            (clone / path).parent.mkdir(exist_ok=True)
            (clone / path).write_text(body)
    (clone / "verify").mkdir()
    (clone / "verify" / "check.sh").write_text("exit 0\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "suite")
    # harness init installed the gate already; harness.yaml is protected, so push as the lead.
    lead = push(clone, role="lead")
    assert lead.returncode == 0, lead.stderr
    result = run_harness("hooks", "install", cwd=clone)
    assert result.returncode == 0, result.stderr
    return work


def push(clone: Path, role: str = "core-dev", ref: str = "main") -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "HARNESS_ROLE": role}
    return subprocess.run(
        ["git", "push", "origin", f"HEAD:{ref}"], cwd=clone, capture_output=True, text=True, env=env, check=False
    )


def upstream_main(work: WorkRepo) -> str:
    return work.upstream_git("rev-parse", "main").strip()


def baseline(work: WorkRepo, sha: str) -> set[str]:
    found = BaselineStore(work.upstream / "harness" / "baseline").load(sha)
    assert found is not None, f"no baseline for {sha}"
    return set(found.passed)


def test_push_breaking_a_passing_test_is_refused_and_names_it(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    before = upstream_main(gated)
    commit_file(clone, "src/b.sh", "echo 'wanted 1, got 2'\nexit 1\n", "break b")
    result = push(clone)
    assert result.returncode != 0
    assert "ERROR t/b.sh: regression: passed at" in result.stderr
    assert "wanted 1, got 2" in result.stderr
    assert "t/d.sh" not in result.stderr  # failing before too: not this push's fault
    assert upstream_main(gated) == before
    assert baseline(gated, before) == {"t/a.sh", "t/b.sh", "t/c.sh"}  # measured once, for the old tip


def test_clean_push_lands_and_a_newly_passing_test_ratchets_the_baseline_up(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    commit_file(clone, "t/e.sh", "exit 0\n", "add e")
    assert push(clone).returncode == 0
    assert baseline(gated, upstream_main(gated)) == {"t/a.sh", "t/b.sh", "t/c.sh", "t/e.sh"}
    commit_file(clone, "src/d.sh", "exit 0\n", "fix d")
    assert push(clone).returncode == 0
    assert "t/d.sh" in baseline(gated, upstream_main(gated))
    commit_file(clone, "src/d.sh", "exit 1\n", "break d again")
    refused = push(clone)
    assert refused.returncode != 0 and "ERROR t/d.sh: regression" in refused.stderr


def test_client_side_harness_sees_exit_6_with_the_error_lines(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    commit_file(clone, "src/a.sh", "exit 3\n", "break a")
    result = run_harness("gate", "--pre-push", "--agent", "core-dev-01", cwd=clone)
    assert result.returncode == 6, result.stderr
    assert "ERROR t/a.sh: regression: passed at" in result.stderr
    assert "exit 3" in result.stderr


def test_pre_push_function_passes_clean_work_and_refuses_regressions(gated: WorkRepo) -> None:
    ws = gated.workspace("agent1", "core-dev-01")
    commit_file(ws.root, "t/e.sh", "exit 0\n", "add e")
    ok = pre_push(ws)
    assert ok is not None and ok.verdict is not None and ok.verdict.new_passes == ("t/e.sh",)
    commit_file(ws.root, "src/c.sh", "exit 1\n", "break c")
    with pytest.raises(Regressions) as caught:
        pre_push(ws)
    assert caught.value.exit_code == 6
    assert any(line.startswith("ERROR t/c.sh: regression") for line in caught.value.lines)


def test_editing_the_verifier_or_config_to_hide_a_failure_is_refused(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    before = upstream_main(gated)
    commit_file(clone, "verify/check.sh", "exit 0 # always fine\n", "tweak verifier")
    result = push(clone)
    assert result.returncode != 0
    assert "ERROR verify/check.sh: protected path; only lead may change it (this push: role core-dev)" in result.stderr
    git(clone, "reset", "-q", "--hard", "origin/main")
    # Narrow the suite so the broken test is not run, and break it.
    commit_file(clone, "harness.yaml", CONFIG.replace("t/*.sh", "t/[ac].sh"), "narrow suite")
    commit_file(clone, "src/b.sh", "exit 1\n", "break b")
    assert "ERROR harness.yaml: protected path" in push(clone).stderr
    # Even a role allowed to edit the config cannot relax the gate in the same push:
    # the gate reads the tests config of the old tip, never the pushed one.
    lead = push(clone, role="lead")
    assert lead.returncode != 0 and "ERROR t/b.sh: regression" in lead.stderr
    assert upstream_main(gated) == before


def test_a_forged_baseline_in_the_pushed_tree_changes_nothing(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    forged = json.dumps({"tip": "x", "passed": ["t/a.sh"], "flaky": {}})
    commit_file(clone, "harness/baseline/forged.json", forged, "my baseline")
    commit_file(clone, "src/c.sh", "exit 1\n", "break c")
    result = push(clone)
    assert result.returncode != 0 and "ERROR t/c.sh: regression" in result.stderr


def test_lock_only_push_runs_no_tests(gated: WorkRepo, shared_dir: Path) -> None:
    marker = shared_dir / "ran"
    marker.touch()
    marker.chmod(0o666)  # every gate run has a uid of its own: all may append
    clone = gated.first_clone
    commit_file(clone, "t/a.sh", f"echo run >> {marker}\nexit 0\n", "a records its runs")
    assert push(clone, role="lead").returncode == 0
    runs = marker.read_text().count("run")
    assert runs >= 1
    claim = run_harness("claim", "task-1", "--agent", "core-dev-01", cwd=gated.clone("agent1"))
    assert claim.returncode == 0, claim.stderr
    assert marker.read_text().count("run") == runs
    assert not BaselineStore(gated.upstream / "harness" / "baseline").path(upstream_main(gated)).exists()


def test_side_refs_are_not_gated(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    commit_file(clone, "src/a.sh", "exit 1\n", "broken work in progress")
    assert push(clone, ref="refs/harness/parked/agent1/task-1").returncode == 0
    assert push(clone, ref="refs/harness/heartbeats/agent1").returncode == 0


def test_deleting_main_is_refused(gated: WorkRepo) -> None:
    result = subprocess.run(
        ["git", "push", "origin", ":main"], cwd=gated.first_clone, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "deleting refs/heads/main is not allowed" in result.stderr


def test_a_flaky_test_is_reported_as_flaky_not_as_a_regression(gated: WorkRepo, shared_dir: Path) -> None:
    flag = shared_dir / "flaky-state"
    clone = gated.first_clone
    # Fails once whenever the flag file is missing, then passes.
    body = f'if [ -e {flag} ]; then exit 0; fi\ntouch {flag}\necho "timing"\nexit 1\n'
    flag.touch()
    flag.chmod(0o666)  # the sandboxed test, another uid, deletes and remakes it
    commit_file(clone, "t/f.sh", body, "add a flaky test")
    assert push(clone, role="lead").returncode == 0
    assert "t/f.sh" in baseline(gated, upstream_main(gated))
    flag.unlink()
    commit_file(clone, "t/e.sh", "exit 0\n", "unrelated change")
    result = push(clone)
    assert result.returncode == 0, result.stderr
    assert "FLAKY t/f.sh" in result.stderr
    store = BaselineStore(gated.upstream / "harness" / "baseline").load(upstream_main(gated))
    assert store is not None and store.flaky == {"t/f.sh": 1} and "t/f.sh" in store.passed


def test_concurrent_pushes_the_landed_tree_is_the_tested_tree(gated: WorkRepo) -> None:
    clones = {name: gated.clone(name) for name in ("left", "right")}
    heads = {name: commit_file(c, f"t/{name}.sh", "sleep 0.5\n", f"add {name}") for name, c in clones.items()}
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, push(clones[n]))) for n in clones]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    landed = [n for n, r in results.items() if r.returncode == 0]
    assert len(landed) == 1, {n: r.stderr for n, r in results.items()}
    winner = landed[0]
    tip = upstream_main(gated)
    assert tip == heads[winner]
    # The baseline recorded for the landed tip is the run on exactly that tree.
    assert baseline(gated, tip) == {"t/a.sh", "t/b.sh", "t/c.sh", f"t/{winner}.sh"}


def test_a_broken_config_at_the_tip_can_be_fixed_only_by_a_lead_push(gated: WorkRepo) -> None:
    clone = gated.first_clone
    commit_file(clone, "harness.yaml", CONFIG + "tests_typo: 1\n", "break config")
    assert push(clone, role="lead").returncode != 0  # tested with the old (good) config: refused
    git(clone, "reset", "-q", "--hard", "origin/main")
    # Put the broken config on the tip behind the gate's back, as a crash or an admin might.
    broken = commit_file(clone, "harness.yaml", CONFIG + "tests_typo: 1\n", "broken")
    assert push(clone, ref="refs/harness/parked/admin/broken").returncode == 0
    gated.upstream_git("update-ref", "refs/heads/main", broken)
    commit_file(clone, "harness.yaml", CONFIG, "fix config")
    refused = push(clone)
    # The error names where the gate read the config: the tip's commit, not a scratch file.
    assert refused.returncode != 0 and f"{broken[:12]}:harness.yaml: tests_typo: unknown key" in refused.stderr
    assert push(clone, role="lead").returncode == 0


def test_install_does_not_clobber_a_foreign_hook(work: WorkRepo) -> None:
    hook = work.upstream / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 0\n")
    refused = run_harness("hooks", "install", cwd=work.first_clone)
    assert refused.returncode == 1 and "move it away or pass --force" in refused.stderr
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert run_harness("hooks", "install", "--force", cwd=work.first_clone).returncode == 0
    assert "harness pre-receive gate" in hook.read_text()


def test_without_tests_config_work_lands_without_a_test_run(work: WorkRepo) -> None:
    clone = work.clone("agent1")
    commit_file(clone, "src/app.py", "print('hi')\n", "work")
    assert push(clone).returncode == 0
    # The Python gate decided (the hook reads no YAML), and ran no tests: no baseline, no log.
    assert not (work.upstream / "harness" / "baseline").exists()
    assert not (work.upstream / "harness" / "logs").exists()
    (clone / "harness.yaml").write_text("version: 1\nlocks: {lease_seconds: 60}\n")
    git(clone, "commit", "-qam", "loosen the lease")
    refused = push(clone)
    assert refused.returncode != 0 and "protected path" in refused.stderr  # still guarded


def test_files_runner_a_failing_test_file_edited_to_pass_is_refused(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    before = upstream_main(gated)
    commit_file(clone, "t/d.sh", "exit 0\n", "make d pass")
    refused = push(clone)
    assert refused.returncode != 0 and upstream_main(gated) == before
    assert (
        "ERROR t/d.sh: changed test fails in its old form; only roles lead may change it (HARNESS_ROLE=lead git push)"
        in refused.stderr
    )
    assert push(clone, role="lead").returncode == 0  # gate.test_roles defaults to the lead


def test_files_runner_its_runner_script_is_part_of_the_verifier(gated: WorkRepo) -> None:
    clone = gated.clone("agent1")
    commit_file(clone, "run_one.sh", 'sh "$1"\n', "a runner script")
    commit_file(clone, "harness.yaml", CONFIG.replace('run: "sh {test}"', 'run: "sh run_one.sh {test}"'), "use it")
    assert push(clone, role="lead").returncode == 0
    commit_file(clone, "run_one.sh", "exit 0\n", "faster")
    commit_file(clone, "src/a.sh", "exit 1\n", "break a")
    refused = push(clone)
    assert refused.returncode != 0
    assert "ERROR run_one.sh: test infrastructure changed by this push (not used for this run)" in refused.stderr
    lead = push(clone, role="lead")  # allowed to change it, but not used to judge its own push
    assert lead.returncode != 0 and "ERROR t/a.sh: regression" in lead.stderr
