"""Which fields of a spec an edit changed, so backends apply only those."""

from __future__ import annotations

from typing import Any

from desktopvm.model.machine import MachineSpec

# Top-level fields compared as a whole: a backend re-applies the whole group when any part
# of it changed (e.g. all of `firmware`), which keeps each backend's update code simple.
GROUPS = ("name", "notes", "os", "firmware", "cpu", "memory", "storage", "network", "display",
          "usb", "serial", "boot_order")


def changed_fields(old: MachineSpec, new: MachineSpec) -> list[str]:
    """Dotted paths of the leaves that differ, e.g. ['cpu.count', 'network[0].mac']."""
    changes: list[str] = []
    _walk(old.model_dump(), new.model_dump(), "", changes)
    return changes


def changed_groups(old: MachineSpec, new: MachineSpec) -> set[str]:
    """The top-level groups (see GROUPS) with any change."""
    return {name for name in GROUPS if getattr(old, name) != getattr(new, name)}


def _walk(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            _walk(old.get(key), new.get(key), f"{path}.{key}" if path else key, out)
    elif isinstance(old, list | tuple) and isinstance(new, list | tuple) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{index}]", out)
    elif old != new:
        out.append(path)
