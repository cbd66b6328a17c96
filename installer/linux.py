"""Build the Linux package: PyInstaller onedir with this interpreter, then a .deb around it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from installer import deb
from installer.project import REPO
from installer.steps import StepTimer

SPEC = Path(__file__).resolve().parent / "desktopvm.spec"


def freeze(work: Path, *, trim: bool = True) -> Path:
    """PyInstaller onedir of DesktopVM under `work`; returns the app folder."""
    argv = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
            "--distpath", str(work / "dist"), "--workpath", str(work / "pyinstaller"), str(SPEC)]
    if not trim:
        argv += ["--", "--no-trim"]
    subprocess.run(argv, check=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=1800)
    return work / "dist" / "desktopvm"


def smoke(bundle: Path) -> None:
    """The frozen programs start: `desktopvm-cli --version`, `desktopvm --self-test` offscreen."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for argv in ([str(bundle / "desktopvm-cli"), "--version"],
                 [str(bundle / "desktopvm"), "--self-test"]):
        subprocess.run(argv, check=True, env=env, stdin=subprocess.DEVNULL, timeout=300)


def build_linux(work: Path, output: Path, timer: StepTimer, *, fast: bool = False) -> Path:
    """Every step to `desktopvm_<version>_amd64.deb` in `output`; returns its path."""
    with timer.step("linux: PyInstaller"):
        bundle = freeze(work)
    with timer.step("linux: smoke test of the frozen app"):
        smoke(bundle)
    with timer.step("linux: stage the package"):
        root = deb.stage(bundle, work / "deb-root")
    with timer.step("linux: dpkg-deb"):
        return deb.build_deb(root, output, fast=fast)
