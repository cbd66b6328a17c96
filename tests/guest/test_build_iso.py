"""Fast checks of the guest ISO builder that need neither QEMU nor a kernel download."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from . import build_iso
from .build_iso import MissingDependencyError, NewcArchive


def test_missing_tool_error_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(build_iso, "ISOLINUX_BIN", tmp_path / "no-isolinux.bin")
    with pytest.raises(MissingDependencyError, match=r"apt-get install isolinux\)"):
        build_iso.build_test_iso(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing is created before the check


def test_newc_archive_is_readable_by_cpio(tmp_path: Path) -> None:
    busybox = build_iso.BUSYBOX
    if not busybox.is_file():
        pytest.skip("needs busybox (Debian package busybox-static) to read the archive back")
    archive = NewcArchive()
    archive.directory("bin")
    archive.file("bin/hello", b"hi\n", mode=0o755)
    archive.symlink("bin/sh", "hello")
    archive.char_device("console", 5, 1)
    listing = subprocess.run(
        [str(busybox), "cpio", "-t", "-v"],
        input=archive.finish(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert [line.split()[-1] for line in listing.splitlines()] == [
        "bin",
        "bin/hello",
        "hello",  # symlinks list as "bin/sh -> hello"
        "console",
    ]
    assert "crw-------" in listing
