"""The house rules of tests/test_conventions.py, applied to backends/vmware as well."""

from __future__ import annotations

from tests import test_conventions as conventions

SHARED = {"backend", "capabilities", "inventory", "plans", "lifecycle", "machines", "snapshots",
          "clones", "appliances", "disks", "console", "keys", "translate"}


def test_vmware_follows_the_module_map():
    present = {p.stem for p in (conventions.REPO / "backends" / "vmware").glob("*.py")}
    assert present >= SHARED, sorted(SHARED - present)


def test_vmware_helpers_never_import_the_facade():
    conventions.test_backend_helpers_never_import_their_facade("vmware")


def test_vmware_modules_import_in_one_direction():
    conventions.test_backend_modules_import_in_one_direction("vmware")


def test_only_the_vmrun_door_starts_processes():
    for path in sorted((conventions.REPO / "backends" / "vmware").glob("*.py")):
        processes, sockets = conventions.starts(path)
        if path.name != "vmrun.py":
            assert not processes, f"{path.name} starts processes: {sorted(processes)}"
        assert not sockets, f"{path.name} opens sockets"
