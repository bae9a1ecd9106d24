"""``harness image base|build``: the agent image, without any image registry.

- ``base``: a Debian root filesystem made by debootstrap (Debian mirrors are often reachable
  where registries are not), turned into an image with ``docker import``.
- ``build``: docker/Dockerfile FROM that base; harness and its dependencies go in as wheels
  fetched on the host into the build context, because containers may reach no package index.
  Dependency wheels are fetched for the *image's* Python (Debian bookworm: 3.11) and platform,
  not the host's, so a host on another Python still builds a working image.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness import resources
from harness.errors import HarnessError, UsageError
from harness.runtime import process

DEFAULT_BASE = "harness-base:bookworm"
DEFAULT_SUITE = "bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
IMAGE_PYTHON = "3.11"  # bookworm's python3
# tini: PID 1; procps: ps/kill for diagnostics; the rest run harness and git.
BASE_PACKAGES = ("python3", "python3-venv", "git", "ca-certificates", "tini", "procps")
AGENT_CLIS = ("claude", "codex", "gemini")
# Generous bounds, so a stalled mirror or index ends in an error instead of a hang.
DEBOOTSTRAP_TIMEOUT = 3600.0
TAR_TIMEOUT = 600.0
PIP_TIMEOUT = 1800.0
_BUILD_NOISE = ("Removing intermediate container", "--->", "Step ", "Running in ")


@dataclass(frozen=True)
class BuildResult:
    tag: str
    wheels: list[str]
    lines: list[str]


def docker_dir() -> Path:
    """docker/ of a source checkout, or the copy packaged into the wheel."""
    folder = resources.docker_dir()
    if folder is not None:
        return folder
    raise HarnessError("docker/Dockerfile not found in this harness installation; reinstall harness")


def apt_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian archive this machine's apt already uses: where packages are known to reach."""
    files: list[Path] = []
    for source in sources:
        files += sorted(source.glob("*.sources")) + sorted(source.glob("*.list")) if source.is_dir() else [source]
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        for line in text.splitlines():
            words = line.split()
            uri = words[1] if words[:1] == ["deb"] and len(words) > 1 else words[1] if words[:1] == ["URIs:"] else ""
            if uri.rstrip("/").endswith("/debian"):
                return uri
    raise UsageError("no Debian archive found in /etc/apt/sources.list*; pass --mirror URL")


def build_base(tag: str = DEFAULT_BASE, suite: str = DEFAULT_SUITE, mirror: str | None = None) -> str:
    """debootstrap a minimal Debian and ``docker import`` it as ``tag``; returns the image id."""
    from harness.runtime.docker import connect, import_rootfs

    mirror = mirror or apt_mirror()

    connect()  # fail fast, before minutes of debootstrap, when no engine answers
    if shutil.which("debootstrap") is None:
        raise HarnessError("debootstrap is not installed; run `apt-get install debootstrap` (Debian/Ubuntu)")
    if os.geteuid() != 0:
        raise HarnessError("harness image base needs root (debootstrap chroots); run it with sudo")
    with tempfile.TemporaryDirectory(prefix="harness-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", suite, str(rootfs), mirror]
        _run(argv, DEBOOTSTRAP_TIMEOUT, f"debootstrap {suite} from {mirror}")
        tarball = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], TAR_TIMEOUT, f"packing {rootfs}")
        shutil.rmtree(rootfs, ignore_errors=True)
        return import_rootfs(tarball, tag)


def build(
    tag: str,
    base: str = DEFAULT_BASE,
    agent_clis: tuple[str, ...] = (),
    wheel_dir: Path | None = None,
) -> BuildResult:
    """Build the agent image ``tag`` FROM ``base`` with harness installed from host-built wheels."""
    from harness.runtime.docker import connect, image_exists

    connect()
    bad = [c for c in agent_clis if c not in AGENT_CLIS]
    if bad:
        raise UsageError(f"--agent-cli: unknown CLI {bad[0]!r}; choose from {', '.join(AGENT_CLIS)}")
    if not image_exists(base):
        raise HarnessError(f"base image {base} not found on the Docker engine; make it with `harness image base`")
    with tempfile.TemporaryDirectory(prefix="harness-image-") as tmp:
        context = Path(tmp)
        for name in ("Dockerfile", "entrypoint.sh"):
            shutil.copyfile(docker_dir() / name, context / name)
        wheels = context / "wheels"
        wheels.mkdir()
        if wheel_dir is not None:
            for wheel in Path(wheel_dir).glob("*.whl"):
                shutil.copyfile(wheel, wheels / wheel.name)
        else:
            fetch_wheels(wheels)
        names = sorted(p.name for p in wheels.glob("*.whl"))
        if not any(n.startswith("harness-") for n in names):
            raise HarnessError(f"no harness wheel in {wheel_dir or 'the build context'}; build one with `pip wheel`")
        args = {"BASE": base, "AGENT_CLIS": " ".join(agent_clis)}
        # Agent CLIs come from Debian and npm at build time: that build needs a network.
        lines = build_image(context, tag, args, network="bridge" if agent_clis else "none")
    return BuildResult(tag, names, lines)


def build_image(context: Path, tag: str, buildargs: dict[str, str], network: str | None = None) -> list[str]:
    """``docker build`` of ``context``; the build's output lines, or one clear error line."""
    from docker.errors import APIError, BuildError

    from harness.runtime.docker import connect

    client = connect()
    try:
        _, stream = client.images.build(
            path=str(context), tag=tag, buildargs=buildargs, rm=True, forcerm=True, network_mode=network
        )
    except BuildError as exc:
        # The builder colours a step's stderr: without the escapes, pip's lines are plain text.
        raw = "".join(str(chunk.get("stream", "")) for chunk in exc.build_log)
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", raw).splitlines()]
        # pip's or apt's own error, not the builder's "Removing intermediate container" after it.
        said = [ln for ln in lines if ln.startswith(("ERROR", "E: ", "error:", "fatal:"))]
        last = (said or [ln for ln in lines if ln and not ln.startswith(_BUILD_NOISE)] or [str(exc)])[-1]
        step = re.sub(r"^The command '.*' returned", "a step returned", str(exc.msg).strip().splitlines()[0])
        raise HarnessError(f"docker build of {tag} failed ({step}): {last}") from exc
    except APIError as exc:
        why = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
        raise HarnessError(f"docker build of {tag} failed: {why}") from exc
    return [str(chunk["stream"]).rstrip() for chunk in stream if chunk.get("stream", "").strip()]


def fetch_wheels(dest: Path) -> None:
    """harness's own wheel from this checkout, plus its dependencies for the image's Python."""
    source = resources.source_checkout()
    if source is None:
        raise HarnessError("harness is not installed from a source checkout; pass --wheels DIR with a harness wheel")
    _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(source))
    _pip(
        "download",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        IMAGE_PYTHON,
        "--implementation",
        "cp",
        "--platform",
        f"manylinux2014_{platform.machine()}",
        *runtime_requirements(),
    )


def runtime_requirements() -> list[str]:
    """harness's install requirements, without extras (dev tools stay out of the image)."""
    requires = metadata.requires("harness") or []
    return [r.split(";")[0].strip() for r in requires if not re.search(r"extra\s*==", r)]


def _pip(*args: str) -> None:
    _run([sys.executable, "-m", "pip", "--quiet", *args], PIP_TIMEOUT, f"pip {args[0]} (preparing the image's wheels)")


def _run(argv: list[str], timeout: float, what: str) -> None:
    """One build step through the process runner: its group dies with it; any failure is one line."""
    try:
        done = process.run(argv, None, timeout)
    except OSError as exc:
        raise HarnessError(f"{what}: cannot start {argv[0]}: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        last = done.last_line(400) or "(no output)"
        raise HarnessError(f"{what} failed ({process.describe_exit(done.returncode, timeout)}): {last}")
