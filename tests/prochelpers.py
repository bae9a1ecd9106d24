"""Looking for processes the way a user would with ps: by process group or command line."""

from __future__ import annotations

from pathlib import Path


def live_processes(pgid: int | None = None, marker: str = "") -> list[int]:
    """Pids still running (a zombie is dead) in process group ``pgid`` or with ``marker`` in
    their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue  # it exited while we looked
        state, group = stat[0], int(stat[2])
        if state not in ("Z", "X") and (group == pgid or (marker and marker in cmdline)):
            found.append(int(entry.name))
    return found
