"""The wheel carries resources/ and both import packages, and runs from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # --no-build-isolation: use this environment's setuptools (no download); a private
    # build folder keeps the checkout clean.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, cwd=build,
                   env={**os.environ, "PIP_NO_INPUT": "1"})
    [built] = out.glob("desktopvm-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_packages_and_resources(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "desktopvm/_resources/os_catalog.json" in names
    assert "backends/__init__.py" in names
    assert "desktopvm/py.typed" in names
    assert not any(n.startswith(("tests/", "installer/")) for n in names)
    # The test support (stand-ins, the test guest) is not shipped.
    assert not any(n.startswith("desktopvm/testing/") for n in names)
    assert any(n.startswith("desktopvm/rfb/") for n in names)  # its neighbours are


@pytest.mark.slow
def test_installed_wheel_finds_its_catalog(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True)
    code = ("import desktopvm.paths as p, desktopvm.model as m; "
            "print(p.resources_dir()); print(len(m.catalog().ids()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)},
                            check=True)
    where, count = result.stdout.split()
    assert Path(where) == target / "desktopvm" / "_resources"
    assert int(count) >= 30
