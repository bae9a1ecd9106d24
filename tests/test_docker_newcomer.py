"""Docker, as a newcomer meets it: a plain `harness down` stops the Docker fleet `up` started
(the fleet's record on the upstream names its runtime), the fleet's events survive `down`
for `history`, a failed `image build` shows pip's own error, `image base`'s import answers
with the image id."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from harness.runtime.docker import import_rootfs
from harness.runtime.fleetrecord import default_name, load_record
from tests.conftest import WorkRepo, run_harness, wait_until
from tests.docker_support import agent_image, docker, engine  # noqa: F401

pytestmark = pytest.mark.docker


def test_a_plain_down_stops_the_docker_fleet_up_started(agent_image: str, work: WorkRepo, tmp_path: Path) -> None:  # noqa: F811
    for n in (1, 2):
        body = f"@write out/{n}.txt\n{n}\n@end\n"
        assert (
            run_harness("tasks", "add", f"t{n}", "--title", f"t{n}", "--body", body, cwd=work.first_clone).returncode
            == 0
        )
    env = {"HARNESS_IMAGE": agent_image, "XDG_STATE_HOME": str(tmp_path / "state")}
    up = run_harness("up", "--runtime", "docker", "--roles", "core-dev=2", "--backend", "builtin", "--memory", "512m",
                     "--loop-arg=--exit-when-idle", cwd=work.first_clone, env=env)  # fmt: skip
    name = default_name(work.upstream)
    try:
        assert up.returncode == 0, up.stderr
        record = load_record(work.upstream)
        assert record is not None and record.runtime == "docker" and record.name == name
        other = work.clone("other")
        wait_until(
            lambda: all("status: done" in (work.upstream_file(f"tasks/{t}.yaml") or "") for t in ("t1", "t2")),
            "the Docker fleet to do its two tasks",
            timeout=240,
            every=1,
        )
        rows = yaml.safe_load(run_harness("ps", "--json", cwd=other, env=env).stdout)
        assert sorted(r["agent"] for r in rows) == ["core-dev-01", "core-dev-02"]
    finally:
        down = run_harness("down", "--timeout", "10", cwd=work.clone("third"), env=env)  # no --name, no --runtime
    assert down.returncode == 0 and f"agent(s) of fleet {name}" in down.stdout, down.stdout + down.stderr
    assert docker("ps", "-aq", "--filter", f"label=harness.fleet={name}").stdout == ""
    history = yaml.safe_load(run_harness("history", "--json", cwd=work.first_clone, env=env).stdout)
    assert history["loop"] is not None and history["loop"]["outcomes"].get("done") == 2  # the containers' events


def _wheel_needing(dest: Path, requirement: str) -> Path:
    """A harness wheel whose dependency the build context does not carry: pip must say so."""
    wheel = dest / "harness-0.0.1-py3-none-any.whl"
    info = "harness-0.0.1.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("harness_stub.py", "")
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: harness\nVersion: 0.0.1\nRequires-Dist: {requirement}\n"
        )
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_image_build_shows_pips_error(engine: None, tmp_path: Path) -> None:  # noqa: F811
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel_needing(wheels, "no-such-dependency-for-harness")
    proc = run_harness("image", "build", "--tag", "harness-test-broken:1", "--wheels", str(wheels), cwd=tmp_path,
                       timeout=600)  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: docker build of harness-test-broken:1 failed (a step returned")
    assert proc.stderr.rstrip().endswith("ERROR: No matching distribution found for no-such-dependency-for-harness")


def test_image_import_answers_with_the_image_id(engine: None, tmp_path: Path) -> None:  # noqa: F811
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        data = b"hello\n"
        member = tarfile.TarInfo("etc/hello")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    tag = f"harness-test-import:{tmp_path.name[-8:].lower().replace('_', '-')}"
    try:
        image_id = import_rootfs(tarball, tag)
        assert image_id.startswith("sha256:") and len(image_id) == 71, image_id
        assert docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip() == image_id
    finally:
        docker("rmi", "-f", tag, check=False)
