"""Live tests on a real Hyper-V host (Windows, Hyper-V on, account in Hyper-V Administrators).

Deselected by default; run on such a host with:  .venv/bin/python -m pytest -m live_hyperv
tests/backends/hyperv. They create VMs named 'desktopvm-live-*' with small disks and remove
them again. DESKTOPVM_RECORD_HYPERV=<folder> also saves the raw replies as new samples.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.locate import find_powershell
from backends.hyperv.plans import Call
from backends.hyperv.session import LocalProcessChannel
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    StorageController,
    UsbSpec,
)
from desktopvm.protocol import CancelToken, PowerState, no_progress

pytestmark = pytest.mark.live_hyperv


@pytest.fixture
def live() -> Iterator[HyperVBackend]:
    if sys.platform != "win32" and not os.environ.get("DESKTOPVM_POWERSHELL"):
        pytest.skip("needs Windows with Hyper-V")
    executable = find_powershell()
    assert executable, "no PowerShell found"
    backend = HyperVBackend(lambda: LocalProcessChannel(executable))
    probe = backend.probe()
    assert probe.available, f"{probe.reason} ({probe.install_hint})"
    yield backend
    for machine in backend.list_machines():
        if machine.name.startswith("desktopvm-live-"):
            if machine.state is not PowerState.OFF:
                backend.power_off(machine.id)
            backend.delete(machine.id, delete_disks=True, progress=no_progress,
                           cancel=CancelToken())
    backend.close()


def record(name: str, value: Any) -> None:
    folder = os.environ.get("DESKTOPVM_RECORD_HYPERV")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(value, indent=1), "utf-8")


def tiny(name: str, firmware: Firmware) -> MachineSpec:
    kind = ControllerKind.SCSI if firmware is Firmware.UEFI else ControllerKind.IDE
    return MachineSpec(
        name=f"desktopvm-live-{name}-{uuid.uuid4().hex[:6]}", os="other-linux",
        firmware=FirmwareSpec(kind=firmware), memory=MemorySpec(size_mib=512),
        usb=UsbSpec(version=None, tablet=False),
        storage=(StorageController(kind=kind, disks=(
            Disk(format=DiskFormat.VHDX, size_bytes=1 << 30),)),))


def test_inventory_and_host_facts_record_real_replies(live: HyperVBackend):
    record("host_info", live.run(Call("host_info")))
    live.list_machines()
    assert live.host_info().cpus >= 1


@pytest.mark.parametrize("firmware", [Firmware.BIOS, Firmware.UEFI])
def test_create_read_back_and_delete(live: HyperVBackend, firmware: Firmware):
    spec = tiny("gen", firmware).model_copy(update={"notes": "‘quotes’ $(x) `tick` ;\nline"})
    vm_id = live.create(spec, progress=no_progress, cancel=CancelToken())
    info = live.get_machine(vm_id)
    record(f"get_vm_{firmware.value}", live._details(vm_id))
    assert (info.spec.name, info.spec.notes) == (spec.name, spec.notes)
    assert info.spec.firmware.kind is firmware
    assert len(info.spec.all_disks()) == 1


def test_lifecycle_checkpoints_screenshot_and_clone(live: HyperVBackend):
    vm_id = live.create(tiny("life", Firmware.UEFI), progress=no_progress, cancel=CancelToken())
    first = live.take_snapshot(vm_id, "first", description="the base", include_memory=False,
                               progress=no_progress, cancel=CancelToken())
    roots, current = live.list_snapshots(vm_id)
    assert [r.description for r in roots] == ["the base"] and current == first.id
    live.start(vm_id)
    assert live.screenshot(vm_id).startswith(b"\x89PNG")
    live.send_keys(vm_id, ["ctrl-alt-delete"])
    live.pause(vm_id)
    live.resume(vm_id)
    live.power_off(vm_id)
    clone_id = live.clone(vm_id, f"desktopvm-live-clone-{uuid.uuid4().hex[:6]}",
                          progress=no_progress, cancel=CancelToken())
    assert live.get_machine(clone_id).state is PowerState.OFF
