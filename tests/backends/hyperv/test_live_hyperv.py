"""Live tests on a real Hyper-V host (Windows, Hyper-V on, account in Hyper-V Administrators).

Skipped without --live-hyperv whatever -m says (tests/conftest.py); run on such a host with:

    .venv/bin/python -m pytest --live-hyperv -m live_hyperv tests/backends/hyperv

They create VMs named with the prefix (--live-prefix, default dvmtest-) with small disks and
delete only the VMs they made; a host with other VMs is refused unless --live-prefix says
which prefix is the tests' (tests/conformance/live.py). DESKTOPVM_RECORD_HYPERV=<folder> also
saves the raw replies as new samples.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv.backend import HyperVBackend
from backends.hyperv.plans import Call
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
from tests.backends.hyperv.harness import hyperv_live_harness
from tests.conformance.harness import Harness
from tests.conformance.live import live_options

pytestmark = pytest.mark.live_hyperv


@pytest.fixture
def harness(pytestconfig: pytest.Config) -> Iterator[Harness]:
    """The real host; only the VMs the test made are removed afterwards."""
    with hyperv_live_harness(live_options(pytestconfig)) as live:
        yield live


@pytest.fixture
def live(harness: Harness) -> HyperVBackend:
    assert isinstance(harness.backend, HyperVBackend)
    return harness.backend


def record(name: str, value: Any) -> None:
    folder = os.environ.get("DESKTOPVM_RECORD_HYPERV")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(value, indent=1), "utf-8")


def tiny(harness: Harness, name: str, firmware: Firmware) -> MachineSpec:
    kind = ControllerKind.SCSI if firmware is Firmware.UEFI else ControllerKind.IDE
    return MachineSpec(
        name=harness.name(f"{name}-{uuid.uuid4().hex[:6]}"), os="other-linux",
        firmware=FirmwareSpec(kind=firmware), memory=MemorySpec(size_mib=512),
        usb=UsbSpec(version=None, tablet=False),
        storage=(StorageController(kind=kind, disks=(
            Disk(format=DiskFormat.VHDX, size_bytes=1 << 30),)),))


def test_inventory_and_host_facts_record_real_replies(live: HyperVBackend):
    record("host_info", live.run(Call("host_info")))
    live.list_machines()
    assert live.host_info().cpus >= 1


@pytest.mark.parametrize("firmware", [Firmware.BIOS, Firmware.UEFI])
def test_create_read_back_and_delete(live: HyperVBackend, harness: Harness,
                                     firmware: Firmware):
    spec = tiny(harness, "gen", firmware).model_copy(
        update={"notes": "‘quotes’ $(x) `tick` ;\nline"})
    vm_id = live.create(spec, progress=no_progress, cancel=CancelToken())
    info = live.get_machine(vm_id)
    record(f"get_vm_{firmware.value}", live.runner.details(vm_id))
    assert (info.spec.name, info.spec.notes) == (spec.name, spec.notes)
    assert info.spec.firmware.kind is firmware
    assert len(info.spec.all_disks()) == 1


def test_lifecycle_checkpoints_screenshot_and_clone(live: HyperVBackend, harness: Harness):
    vm_id = live.create(tiny(harness, "life", Firmware.UEFI), progress=no_progress,
                        cancel=CancelToken())
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
    clone_id = live.clone(vm_id, harness.name(f"clone-{uuid.uuid4().hex[:6]}"),
                          progress=no_progress, cancel=CancelToken())
    assert live.get_machine(clone_id).state is PowerState.OFF
