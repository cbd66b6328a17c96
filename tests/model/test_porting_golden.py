"""Golden tests of `porting.fit` for every ordered pair of backends and three kinds of machine.

Each backend's capabilities come from its own `capabilities()` function, fed the way its tests
feed it (no hypervisor needed); only the host's size is fixed (8 CPUs, 16 GiB) so the files
do not depend on the computer running the tests. Hyper-V appears twice: a Hyper-V machine is
made as generation 1 (BIOS, boots from IDE) or 2 (UEFI, SCSI only), so `hyperv-gen1` and
`hyperv-gen2` are the real host capabilities narrowed to that generation's firmware.

Each machine is first fitted to the source backend (that is the machine the source would
hold), then to the target; the file tests/model/data/porting/SOURCE-to-TARGET.json holds the
target's spec, the report and the blockers. Set DESKTOPVM_UPDATE_GOLDEN=1 to rewrite the files
after a deliberate change, then read the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from desktopvm.model import (
    Capabilities,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DisplaySpec,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    PortForward,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
    errors,
    validate,
)
from desktopvm.model.porting import Fitting, fit
from tests.conftest import DATA

GOLDEN = Path(__file__).parent / "data" / "porting"
GIB = 1024**3
HOST_CPUS, HOST_MEMORY_MIB = 8, 16384


@contextmanager
def _host_of_fixed_size(module: Any) -> Iterator[None]:
    """The capabilities functions ask the computer for its CPUs and memory: fix both."""
    with mock.patch.object(module.os, "cpu_count", return_value=HOST_CPUS), \
            mock.patch.object(module, "host_memory_mib", return_value=HOST_MEMORY_MIB):
        yield


def qemu_caps() -> Capabilities:
    """QEMU with UEFI, Secure Boot firmware and swtpm, no bridges allowed."""
    from backends.qemu import capabilities as qemu
    from backends.qemu.firmware import Firmware as Build

    code = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
    uefi = Build("OVMF", code, Path("/usr/share/OVMF/OVMF_VARS_4M.fd"), False, False)
    secure = Build("OVMF Secure Boot", code, Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd"),
                   True, True)
    with _host_of_fixed_size(qemu), mock.patch.object(qemu, "allowed_bridges", return_value=[]):
        return qemu.capabilities(uefi, secure, True)


def virtualbox_caps() -> Capabilities:
    """VirtualBox 7.2 on Linux, as tests/backends/virtualbox/test_plans.py builds it."""
    from backends.virtualbox.capabilities import HostFacts, capabilities
    from backends.virtualbox.plans import Host
    from backends.virtualbox.versions import dialect_named

    return capabilities(dialect_named("7.2"), HostFacts(cpus=HOST_CPUS,
                                                        memory_mib=HOST_MEMORY_MIB), Host())


def hyperv_caps() -> Capabilities:
    """Hyper-V from the recorded host_info (as tests/backends/hyperv/test_plans.py), resized."""
    from dataclasses import replace

    from backends.hyperv.capabilities import capabilities
    from backends.hyperv.parsers import host_facts

    facts = host_facts(json.loads((DATA / "hyperv" / "host_info.json").read_text("utf-8")))
    return capabilities(replace(facts, cpus=HOST_CPUS, memory_mib=HOST_MEMORY_MIB), local=True)


def vmware_caps() -> Capabilities:
    """VMware Workstation 17.5 on Linux."""
    from backends.vmware import capabilities as vmware
    from backends.vmware.locate import Installation

    with _host_of_fixed_size(vmware):
        return vmware.capabilities(Installation("ws", "/usr/bin/vmrun", version="17.5.0",
                                                windows=False))


def esxi_caps() -> Capabilities:
    """A standalone ESXi 8 host."""
    from backends.esxi.capabilities import capabilities
    from backends.esxi.placement import Facts

    facts = Facts(api_type="HostAgent", product="VMware ESXi 8.0.3", host_name="esx01",
                  cpus=HOST_CPUS, memory_mib=HOST_MEMORY_MIB, datacenter="ha-datacenter",
                  datacenter_ref=None, folder=None, pool=None, host=None, datastores=(),
                  networks={})
    return capabilities(facts, "ESXi")


def targets() -> dict[str, Capabilities]:
    """Every backend's capabilities by the name the golden files use."""
    hyperv = hyperv_caps()
    return {
        "qemu": qemu_caps(),
        "virtualbox": virtualbox_caps(),
        "hyperv-gen1": hyperv.model_copy(update={"firmware": frozenset({Firmware.BIOS})}),
        "hyperv-gen2": hyperv.model_copy(update={"firmware": frozenset({Firmware.UEFI})}),
        "vmware": vmware_caps(),
        "esxi": esxi_caps(),
    }


TARGETS = targets()


def linux_bios_sata() -> MachineSpec:
    """Debian with BIOS, its disk and DVD drive on SATA, NAT with a port forward."""
    return MachineSpec(
        name="debian-bios", os="debian12", firmware=FirmwareSpec(kind=Firmware.BIOS),
        cpu=CpuSpec(count=2), memory=MemorySpec(size_mib=2048),
        storage=(StorageController(name="SATA", kind=ControllerKind.SATA, disks=(
            Disk(path="/vms/debian/disk.qcow2", format=DiskFormat.QCOW2, size_bytes=20 * GIB,
                 existing=True),), optical=(OpticalDrive(port=1),)),),
        network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.E1000,
                                mac="52:54:00:12:34:56", port_forwards=(
                                    PortForward(host_port=2222, guest_port=22),)),),
        usb=UsbSpec(version=UsbVersion.USB2),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET),),
    )


def windows11_uefi_nvme() -> MachineSpec:
    """Windows 11: UEFI, Secure Boot with Microsoft's keys, a TPM, its disk on NVMe."""
    return MachineSpec(
        name="win11", os="windows11",
        firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True, tpm=True,
                              secure_boot_template=SecureBootTemplate.MICROSOFT_WINDOWS),
        cpu=CpuSpec(count=4), memory=MemorySpec(size_mib=8192),
        storage=(StorageController(name="NVMe", kind=ControllerKind.NVME, disks=(
                     Disk(path="/vms/win11/disk.vdi", format=DiskFormat.VDI,
                          size_bytes=64 * GIB, existing=True),)),
                 StorageController(name="SATA", kind=ControllerKind.SATA,
                                   optical=(OpticalDrive(),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.E1000E),),
        display=DisplaySpec(video_memory_mib=128, monitors=1),
        usb=UsbSpec(version=UsbVersion.USB3),
    )


def linux_virtio_three_nics() -> MachineSpec:
    """Ubuntu on VirtIO disks with three adapters (NAT, bridged, internal) and USB 3."""
    return MachineSpec(
        name="ubuntu-virtio", os="ubuntu24.04",
        firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True,
                              secure_boot_template=SecureBootTemplate.MICROSOFT_UEFI_CA),
        cpu=CpuSpec(count=16), memory=MemorySpec(size_mib=4096),
        storage=(StorageController(name="VirtIO", kind=ControllerKind.VIRTIO, disks=(
                     Disk(path="/vms/u/root.qcow2", size_bytes=25 * GIB, existing=True),
                     Disk(path="/vms/u/data.qcow2", size_bytes=100 * GIB, port=1,
                          existing=True))),
                 StorageController(name="SATA", kind=ControllerKind.SATA,
                                   optical=(OpticalDrive(),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.VIRTIO),
                 NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="br0",
                                model=NicModel.VIRTIO),
                 NetworkAdapter(attachment=NetworkAttachment.INTERNAL, network="lab",
                                model=NicModel.E1000)),
        usb=UsbSpec(version=UsbVersion.USB3),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET),
                SerialPort(number=2, mode=SerialMode.FILE, path="/vms/u/com2.log")),
    )


MACHINES = {"linux-bios-sata": linux_bios_sata, "windows11-uefi-nvme": windows11_uefi_nvme,
            "linux-virtio-3nics-usb3": linux_virtio_three_nics}


def on_source(machine: MachineSpec, source: Capabilities) -> MachineSpec:
    """The machine as the source backend would hold it."""
    fitting = fit(machine, source)
    assert not fitting.blockers
    return fitting.spec


def as_data(fitting: Fitting) -> dict[str, Any]:
    return {"changes": [[c.what, c.before, c.after, c.reason] for c in fitting.changes],
            "blockers": list(fitting.blockers),
            "spec": fitting.spec.model_dump(mode="json", exclude_defaults=True)}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", TARGETS)
def test_golden(source: str, target: str):
    result = {}
    for name, machine in MACHINES.items():
        held = on_source(machine(), TARGETS[source])
        assert not errors(validate(held, TARGETS[source], check_paths=False)), name
        fitting = fit(held, TARGETS[target], source=TARGETS[source])
        assert not errors(validate(fitting.spec, TARGETS[target], check_paths=False)), name
        result[name] = as_data(fitting)
    path = GOLDEN / f"{source}-to-{target}.json"
    if os.environ.get("DESKTOPVM_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", "utf-8")
    assert result == json.loads(path.read_text("utf-8")), f"{path.name} differs"


@pytest.mark.parametrize("source", TARGETS)
def test_a_machine_fitted_to_its_own_backend_comes_through_unchanged(source: str):
    for name, machine in MACHINES.items():
        held = on_source(machine(), TARGETS[source])
        fitting = fit(held, TARGETS[source])
        assert fitting.changes == (), name
        assert fitting.spec == held, name
