"""Seed discs (the small second ISO an installer or cloud-init reads), written with pycdlib.

Pure Python, so it works on every host. The output depends only on the label and the files:
pycdlib stamps directories and the volume with `time.time()` in local time, so while a disc
is written its modules see a fixed clock in UTC instead (a lock keeps two builds, and the
clock swap, from overlapping).
"""

from __future__ import annotations

import io
import re
import threading
import time
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pycdlib  # type: ignore[import-untyped,unused-ignore]
import pycdlib.dates  # type: ignore[import-untyped,unused-ignore]
import pycdlib.headervd  # type: ignore[import-untyped,unused-ignore]
import pycdlib.pycdlib  # type: ignore[import-untyped,unused-ignore]
import pycdlib.utils  # type: ignore[import-untyped,unused-ignore]

# 2024-01-01 00:00:00 UTC: any fixed moment will do; this one is plainly not "now".
FIXED_TIME = 1_704_067_200.0
_LOCK = threading.Lock()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9_]{1,32}$")


class SeedError(ValueError):
    """A seed disc cannot hold what was asked (a bad file name or label)."""


class _Clock(types.ModuleType):
    """The `time` module with a fixed now, and local time that is UTC."""

    def __init__(self) -> None:
        super().__init__("time")
        self.__dict__.update(vars(time))
        self.time = lambda: FIXED_TIME
        self.localtime = lambda seconds=None: time.gmtime(
            FIXED_TIME if seconds is None else seconds)


@contextmanager
def _fixed_clock() -> Iterator[None]:
    modules = (pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates, pycdlib.utils)
    clock = _Clock()
    with _LOCK:
        saved = [getattr(module, "time") for module in modules]  # noqa: B009
        for module in modules:
            setattr(module, "time", clock)  # noqa: B010
        try:
            yield
        finally:
            for module, original in zip(modules, saved, strict=True):
                setattr(module, "time", original)  # noqa: B010


def _iso_name(name: str, index: int) -> str:
    """An ISO 9660 level-1 name (8.3, upper case) standing in for `name`; readers use the
    Rock Ridge and Joliet names, which are the real ones."""
    stem, _, ext = name.upper().rpartition(".") if "." in name else (name.upper(), "", "")
    clean = re.sub(r"[^A-Z0-9_]", "_", stem)[:6] + f"{index:02d}"
    return f"/{clean}.{re.sub(r'[^A-Z0-9_]', '_', ext)[:3]};1"


def build_seed_iso(label: str, files: Mapping[str, bytes]) -> bytes:
    """A disc labelled `label` with `files` at its root (names as given, via Rock Ridge and
    Joliet); the same arguments always give the same bytes."""
    if not _LABEL.match(label):
        raise SeedError(f"a seed disc label must be 1-32 letters, digits or _: {label!r}")
    for name in files:
        if not _NAME.match(name):
            raise SeedError(f"a seed disc file name must be a plain name: {name!r}")
    with _fixed_clock():
        iso = pycdlib.PyCdlib()
        # Interchange level 4 keeps the label as written (cloud-init looks for "cidata").
        iso.new(interchange_level=4, vol_ident=label, sys_ident="LINUX",
                app_ident_str="DESKTOPVM SEED", joliet=3, rock_ridge="1.09")
        for index, name in enumerate(sorted(files)):
            data = files[name]
            iso.add_fp(io.BytesIO(data), len(data), _iso_name(name, index),
                       rr_name=name, joliet_path=f"/{name}")
        out = io.BytesIO()
        iso.write_fp(out)
        iso.close()
    return out.getvalue()
