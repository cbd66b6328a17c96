"""The Windows installer: NSIS (makensis, amd64-unicode stub) around the frozen app folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from installer.project import PUBLISHER

SCRIPT = Path(__file__).resolve().parent / "nsis" / "desktopvm.nsi"


def version_quad(version: str) -> str:
    """`version` as the four numbers VIProductVersion wants (1.2rc1 -> 1.2.0.0)."""
    release = re.match(r"\d+(?:\.\d+)*", version)
    numbers = [int(part) for part in release.group(0).split(".")] if release else []
    return ".".join(str(n) for n in [*numbers[:4], 0, 0, 0, 0][:4])


def uninstall_list(bundle: Path) -> str:
    """NSIS lines that delete exactly the installed files, then their folders (deepest first)."""
    lines: list[str] = []
    folders: list[str] = []
    for path in sorted(bundle.rglob("*")):
        relative = str(path.relative_to(bundle)).replace("/", "\\")
        if path.is_dir():
            folders.append(relative)
        else:
            lines.append(f'Delete "$INSTDIR\\{relative}"')
    lines.extend(f'RMDir "$INSTDIR\\{folder}"'
                 for folder in sorted(folders, key=lambda f: f.count("\\"), reverse=True))
    return "\n".join(lines) + "\n"


def build_installer(bundle: Path, icon: Path, version: str, output: Path, work: Path, *,
                    fast: bool = False) -> Path:
    """Run makensis over `bundle`; the setup program is written to `output`."""
    if shutil.which("makensis") is None:
        raise FileNotFoundError("makensis not found; run .ci/installer-deps")
    if any(char in str(bundle) for char in '"$'):
        raise ValueError(f"unusable folder name for NSIS: {bundle}")
    work.mkdir(parents=True, exist_ok=True)
    file_list = work / "uninstall-files.nsh"
    file_list.write_text(uninstall_list(bundle), encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    defines = {
        "APP_VERSION": version, "APP_VERSION_QUAD": version_quad(version),
        "PUBLISHER": PUBLISHER, "SOURCE_DIR": str(bundle), "ICON": str(icon),
        "OUTFILE": str(output), "FILE_LIST": str(file_list),
    }
    argv = ["makensis", "-V2", "-INPUTCHARSET", "UTF8"]
    argv += [f"-D{name}={value}" for name, value in defines.items()]
    if fast:
        argv.append("-DFAST")
    argv.append(str(SCRIPT))
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, timeout=1800)
    return output
