"""Conflict markers: keep both sides of every conflict hunk (used for additive conflicts
by the loop and by the builtin agent's resolution sessions). Standard library only, so
the builtin agent can import it without slowing its start."""

from __future__ import annotations


def keep_both_sides(text: str) -> str:
    """Drop the markers (and any diff3 base section); upstream's lines (HEAD, in a rebase) first."""
    out: list[str] = []
    section = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("<<<<<<< "):
            section = "ours"
        elif line.startswith("||||||| ") and section:
            section = "base"
        elif line.rstrip("\r\n") == "=======" and section:
            section = "theirs"
        elif line.startswith(">>>>>>> ") and section:
            section = ""
        elif section != "base":
            out.append(line)
    return "".join(out)


def has_markers(text: str) -> bool:
    return any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines())
