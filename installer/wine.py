"""The one door to wine: a throwaway 64-bit prefix, piped output, registry access, waiting.

Measured traps (docs/installers.md): Windows programs under wine fail when stdout/stderr is a
regular file, so output is always piped; wine drops every QT_* variable, so they go into the
prefix's HKCU\\Environment; the NSIS uninstaller returns before it is done (`wineserver -w`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class WineError(RuntimeError):
    """A Windows program under wine failed; the message carries its output."""


def windows_path(path: Path | PurePosixPath) -> str:
    """`path` as a Windows program in any prefix sees it (through the Z: drive)."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise WineError(f"{name} not found; run .ci/installer-deps")
    return path


@dataclass(frozen=True)
class Wine:
    """One wine prefix and the programs run in it."""

    prefix: Path
    echo: bool = False

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The host environment for wine: this prefix, no debug noise, no host pip settings."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PIP_", "QT_", "PYTHON")) and key not in {
                   "DISPLAY", "WAYLAND_DISPLAY", "VIRTUAL_ENV"}}
        env.update({"WINEPREFIX": str(self.prefix), "WINEARCH": "win64", "WINEDEBUG": "-all",
                    "WINEDLLOVERRIDES": "mscoree,mshtml=", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        env.update(extra or {})
        return env

    def run(self, program: Sequence[str], *, timeout: float = 900, check: bool = True,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str]:
        """Run `wine program...` with stdin closed and output piped; (exit code, output)."""
        return self._run(["wine", *program], timeout=timeout, check=check, env=env, cwd=cwd)

    def boot(self) -> None:
        """Create the prefix (64-bit, no Mono/Gecko prompts) and wait until it is ready."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        self._run(["wineboot", "-i"], timeout=300, check=True)
        self.wait()

    def wait(self) -> None:
        """Wait until every program in the prefix has ended (`wineserver -w`)."""
        subprocess.run([_tool("wineserver"), "-w"], env=self.environment(), check=False,
                       timeout=300, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def kill(self) -> None:
        """Stop the prefix's wineserver and everything running in it."""
        subprocess.run([_tool("wineserver"), "-k"], env=self.environment(), check=False, timeout=60,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def set_user_environment(self, name: str, value: str) -> None:
        """Set a variable for every Windows program in the prefix (HKCU\\Environment)."""
        self.run(["reg", "add", "HKCU\\Environment", "/v", name, "/t", "REG_SZ", "/d", value,
                  "/f"])
        self.wait()

    def reg_query(self, key: str) -> dict[str, str] | None:
        """The values of registry `key` (name -> data), or None when the key does not exist."""
        code, output = self.run(["reg", "query", key], check=False)
        if code != 0:
            return None
        values: dict[str, str] = {}
        for line in output.splitlines():
            parts = line.strip().split(None, 2)
            if len(parts) >= 2 and parts[1].startswith("REG_"):
                values[parts[0]] = parts[2] if len(parts) == 3 else ""
        return values

    def drive_c(self) -> Path:
        """The prefix's C: drive on the host."""
        return self.prefix / "drive_c"

    def _run(self, argv: list[str], *, timeout: float, check: bool,
             env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[int, str]:
        lines: list[str] = []
        with subprocess.Popen([_tool(argv[0]), *argv[1:]], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=self.environment(env), cwd=cwd, text=True,
                              errors="replace") as process:
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    lines.append(line)
                    if self.echo:
                        sys.stderr.write(line)
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        output = "".join(lines)
        if check and code != 0:
            raise WineError(f"{' '.join(argv[:3])} … exited {code}:\n{output[-4000:]}")
        return code, output
