"""Session fixtures: one Linux build (bundle + .deb) and one Windows build (setup.exe, prefix)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from installer.steps import StepTimer

WINDOWS_TOOLS = ("wine", "wineserver", "makensis", "x86_64-w64-mingw32-gcc")
LINUX_TOOLS = ("dpkg-deb",)


def _require(tools: tuple[str, ...]) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (run .ci/installer-deps)")


@dataclass(frozen=True)
class LinuxBuild:
    """The frozen Linux app and its .deb."""

    bundle: Path
    deb: Path
    seconds: float


@pytest.fixture(scope="session")
def linux_build(tmp_path_factory: pytest.TempPathFactory, qapp: object) -> LinuxBuild:
    """PyInstaller + .deb (zstd, for speed) built once per session in a temporary folder."""
    _require(LINUX_TOOLS)
    pytest.importorskip("PyInstaller", reason="PyInstaller missing (the `package` extra)")
    from installer import deb, linux

    work = tmp_path_factory.mktemp("linux-build")
    start = time.monotonic()
    bundle = linux.freeze(work)
    root = deb.stage(bundle, work / "deb-root")
    package = deb.build_deb(root, work / "out", fast=True)
    return LinuxBuild(bundle, package, time.monotonic() - start)


@pytest.fixture(scope="session")
def windows_build(tmp_path_factory: pytest.TempPathFactory,
                  qapp: object) -> Iterator[tuple[object, Path]]:
    """The whole Windows build (own throwaway wine prefix), once per session: (build, setup)."""
    _require(WINDOWS_TOOLS)
    from installer.windows import WindowsBuild, build_windows

    work = tmp_path_factory.mktemp("windows-build")
    setup = build_windows(work, work / "out", StepTimer(quiet=True), fast=True)
    build = WindowsBuild(work, work / "out")
    yield build, setup
    build.wine.kill()
