"""Build DesktopVM's installers: `python installer/build.py windows|linux [--out DIR]`.

Prints each step's duration and where the installer was written. Needs the tools from
.ci/installer-deps (wine, NSIS, MinGW for Windows; PyInstaller and dpkg-deb for Linux).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if __package__ in {None, ""}:  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from installer.project import REPO
from installer.steps import StepTimer


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="installer/build.py", description=__doc__)
    parser.add_argument("target", choices=["windows", "linux"])
    parser.add_argument("--out", type=Path, default=REPO / "dist",
                        help="where the installer goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=None,
                        help="build folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--fast", action="store_true",
                        help="quick compression (NSIS zlib, .deb zstd) for tests; bigger files")
    return parser.parse_args(argv)


def build(target: str, out: Path, work: Path, *, fast: bool, timer: StepTimer) -> Path:
    """Build the installer for `target`; returns its path."""
    if target == "windows":
        from installer.windows import build_windows

        return build_windows(work, out, timer, fast=fast)
    from installer.linux import build_linux

    return build_linux(work, out, timer, fast=fast)


def main(argv: Sequence[str] | None = None) -> int:
    """Build, print the step times and the result."""
    args = parse(argv)
    timer = StepTimer()
    out = args.out.resolve()
    if args.work is not None:
        result = build(args.target, out, args.work.resolve(), fast=args.fast, timer=timer)
    else:
        with tempfile.TemporaryDirectory(prefix=f"desktopvm-{args.target}-") as scratch:
            result = build(args.target, out, Path(scratch), fast=args.fast, timer=timer)
    print(f"step times:\n{timer.summary()}")  # noqa: T201
    size = result.stat().st_size / 1e6
    print(f"installer: {result} ({size:.1f} MB)")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
