"""harness image: the Debian archive for debootstrap comes from this machine's apt sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.runtime.image import apt_mirror


def test_mirror_is_read_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    listing = tmp_path / "sources.list"
    listing.write_text("# comment\ndeb http://mirror.invalid/debian bookworm main\n")
    folder = tmp_path / "sources.list.d"
    folder.mkdir()
    (folder / "debian.sources").write_text(
        "Types: deb\nURIs: http://archive.invalid/debian-security\n\nTypes: deb\nURIs: http://archive.invalid/debian\n"
    )
    assert apt_mirror((listing, folder)) == "http://mirror.invalid/debian"
    assert apt_mirror((folder,)) == "http://archive.invalid/debian"


def test_no_archive_is_a_clear_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="pass --mirror URL"):
        apt_mirror((tmp_path / "missing.list",))
