"""Golden tests: the exact request (script + JSON arguments) for each operation and kind of spec.

Set DESKTOPVM_UPDATE_GOLDEN=1 to rewrite the files in tests/data/hyperv/golden after a
deliberate change, then read the diff.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from typing import Any

import pytest

from backends.hyperv import placement, plans
from backends.hyperv.capabilities import capabilities
from backends.hyperv.parsers import host_facts
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    DynamicMemory,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    OpticalDrive,
    SecureBootTemplate,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    defaults_for,
    errors,
    validate,
)
from desktopvm.protocol import InvalidState, UnsupportedOperation
from tests.conftest import DATA

GOLDEN = DATA / "hyperv" / "golden"
FACTS = host_facts({**json.loads((DATA / "hyperv" / "host_info.json").read_text("utf-8")),
                    "ProcessorManufacturer": "GenuineIntel"})
CAPS = capabilities(FACTS, local=True)
VM = "6f225311-b793-49cf-98a3-0a32108e49bb"


def golden(name: str, value: Any) -> None:
    data = json.loads(json.dumps(value, default=dataclasses.asdict))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("DESKTOPVM_UPDATE_GOLDEN"):
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert data == json.loads(path.read_text("utf-8")), f"{path.name} differs"


def counter() -> Any:
    numbers = itertools.count(1)
    return lambda: f"n{next(numbers)}"


GEN1 = MachineSpec(
    name="win7 ‘legacy’", os="windows7", notes="$(Remove-Item C:\\)",
    firmware=FirmwareSpec(kind=Firmware.BIOS),
    cpu=CpuSpec(count=2), memory=MemorySpec(size_mib=2048),
    storage=(StorageController(name="IDE", kind=ControllerKind.IDE,
                               disks=(Disk(format=DiskFormat.VHD, size_bytes=(40 << 30) + 1),),
                               optical=(OpticalDrive(iso="C:\\ISO\\win7.iso", port=1),)),
             StorageController(name="SCSI", kind=ControllerKind.SCSI, disks=(
                 Disk(path="E:\\data.vhdx", format=DiskFormat.VHDX, existing=True, port=3),))),
    network=(NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="External",
                            mac="00:15:5d:01:02:03"),),
    serial=(SerialPort(number=1, mode=SerialMode.PIPE),),
    usb=UsbSpec(version=None, tablet=False),
    boot_order=(BootDevice.OPTICAL, BootDevice.DISK),
)


def test_create_generation_1_bios_on_ide():
    assert errors(validate(GEN1, CAPS, check_paths=False)) == []
    assert placement.problems(GEN1) == []
    golden("create_gen1_bios_ide", plans.create(GEN1, FACTS.default_switch))


def test_create_windows_11_defaults_generation_2():
    """Catalog defaults: UEFI, Secure Boot (MicrosoftWindows), TPM, and SCSI (Gen 2 has no IDE)."""
    spec = defaults_for("windows11", CAPS, name="Win 11", iso="C:\\ISO\\Win11_24H2.iso")
    assert spec.storage[0].kind is ControllerKind.SCSI  # IDE is BIOS-only on Hyper-V
    call = plans.create(spec, FACTS.default_switch)
    assert call.args["Generation"] == 2
    assert call.args["SecureBootTemplate"] == "MicrosoftWindows" and call.args["Tpm"] is True
    assert {d["ControllerType"] for d in call.args["Disks"]} == {"SCSI"}
    assert call.args["NetworkAdapters"] == [{"SwitchName": "Default Switch", "MacAddress": ""}]
    golden("create_gen2_windows11", call)


def test_create_linux_generation_2_with_dynamic_memory():
    spec = defaults_for("ubuntu24.04", CAPS, name="noble", iso="/srv/iso/ubuntu.iso")
    spec = spec.model_copy(update={
        "memory": MemorySpec(size_mib=4096, dynamic=DynamicMemory(minimum_mib=1024,
                                                                  maximum_mib=8192)),
        "cpu": CpuSpec(count=4, nested_virtualization=True)})
    assert errors(validate(spec, CAPS, check_paths=False)) == []
    call = plans.create(spec, FACTS.default_switch)
    assert call.args["SecureBootTemplate"] == "MicrosoftUEFICertificateAuthority"
    assert call.args["Tpm"] is False
    assert (call.args["DynamicMemory"], call.args["MemoryMinimumBytes"]) == (True, 1 << 30)
    golden("create_gen2_linux_dynamic_memory", call)


@pytest.mark.parametrize(("os_id", "template", "expected"), [
    ("windows10", None, "MicrosoftWindows"),
    ("debian12", None, "MicrosoftUEFICertificateAuthority"),
    ("other", None, "MicrosoftUEFICertificateAuthority"),
    ("windows10", SecureBootTemplate.MICROSOFT_UEFI_CA, "MicrosoftUEFICertificateAuthority"),
    ("debian12", SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM, "OpenSourceShieldedVM"),
])
def test_secure_boot_template_names(os_id: str, template: SecureBootTemplate | None,
                                    expected: str):
    spec = MachineSpec(name="x", os=os_id, firmware=FirmwareSpec(
        kind=Firmware.UEFI, secure_boot=True, secure_boot_template=template))
    assert plans.create(spec, "").args["SecureBootTemplate"] == expected


def test_no_secure_boot_no_tpm_on_generation_1():
    spec = GEN1.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.BIOS, tpm=True)})
    args = plans.create(spec, "").args
    assert (args["Generation"], args["SecureBoot"], args["SecureBootTemplate"], args["Tpm"]) \
        == (1, False, "", False)


def test_hyperv_refuses_what_the_model_allows():
    dvd_on_scsi = GEN1.model_copy(update={"storage": (StorageController(
        kind=ControllerKind.SCSI, optical=(OpticalDrive(),)),)})
    assert [p.field for p in placement.problems(dvd_on_scsi)] == ["storage"]
    odd = GEN1.model_copy(update={"memory": MemorySpec(size_mib=1025)})
    assert [p.field for p in placement.problems(odd)] == ["memory.size_mib"]
    clash = MachineSpec(name="x", firmware=FirmwareSpec(kind=Firmware.UEFI), storage=(
        StorageController(kind=ControllerKind.SCSI, disks=(Disk(size_bytes=1, port=0),)),
        StorageController(kind=ControllerKind.IDE, disks=(Disk(size_bytes=1),))))
    assert placement.problems(clash) == []  # IDE goes to SCSI controller 1, no clash


@pytest.mark.parametrize(("name", "folder"), [
    ("web", "web"), ("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"), ("con", "vm-con"),
    ("  .. ", "vm"), ("[x] ‘y’ $(z)", "_x_ _y_ _(z)"), ("Ubuntu 24.04", "Ubuntu 24.04"),
])
def test_folder_names(name: str, folder: str):
    assert placement.folder_name(name) == folder


def test_update_cpu_memory_notes_while_off():
    old = GEN1
    new = old.model_copy(update={"cpu": CpuSpec(count=4), "notes": "new notes",
                                 "memory": MemorySpec(size_mib=4096)})
    golden("update_cpu_memory_notes", plans.update(VM, old, new, running=False,
                                                   default_switch="Default Switch"))


def test_update_storage_and_network():
    old = GEN1
    ide = old.storage[0]
    storage = (ide.model_copy(update={
        "disks": (*ide.disks, Disk(format=DiskFormat.VHDX, size_bytes=1 << 30, port=0, device=1)),
        "optical": (OpticalDrive(iso="C:\\ISO\\other.iso", port=1),)}),)
    network = (old.network[0].model_copy(update={"network": "lab"}),
               NetworkAdapter(attachment=NetworkAttachment.NAT))
    new = old.model_copy(update={"storage": storage, "network": network,
                                 "serial": (), "boot_order": (BootDevice.DISK,)})
    golden("update_storage_network_serial", plans.update(
        VM, old, new, running=False, default_switch="Default Switch", unique=counter()))


def test_while_running_only_name_notes_media_and_switch_change():
    old = GEN1
    swapped = old.storage[0].model_copy(update={"optical": (OpticalDrive(iso="", port=1),)})
    live = old.model_copy(update={
        "name": "renamed", "notes": "n", "storage": (swapped, old.storage[1]),
        "network": (old.network[0].model_copy(update={"network": "lab"}),)})
    calls = plans.update(VM, old, live, running=True, default_switch="")
    assert [c.op for c in calls] == ["rename_vm", "set_notes", "update_storage",
                                     "update_network"]  # no boot order while running (H1)
    assert calls[3].args["Adapters"][0]["Action"] == "connect"
    for change in ({"cpu": CpuSpec(count=1)}, {"memory": MemorySpec(size_mib=512)},
                   {"network": ()}, {"storage": old.storage[:1]},
                   {"network": (old.network[0].model_copy(update={"mac": ""}),)}):
        with pytest.raises(InvalidState, match="Shut down"):
            plans.update(VM, old, old.model_copy(update=change), running=True, default_switch="")


def test_generation_cannot_change():
    uefi = GEN1.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.UEFI)})
    with pytest.raises(UnsupportedOperation, match="generation"):
        plans.update(VM, GEN1, uefi, running=False, default_switch="")


def test_firmware_update_request():
    old = MachineSpec(name="x", os="windows11", firmware=FirmwareSpec(kind=Firmware.UEFI))
    new = old.model_copy(update={"firmware": FirmwareSpec(kind=Firmware.UEFI, secure_boot=True,
                                                          tpm=True)})
    [call] = plans.update(VM, old, new, running=False, default_switch="")
    assert (call.op, call.args) == ("set_firmware", {"Id": VM, "SecureBoot": True,
                                                     "SecureBootTemplate": "MicrosoftWindows",
                                                     "Tpm": True})


def test_nothing_changed_nothing_sent():
    assert plans.update(VM, GEN1, GEN1, running=True, default_switch="") == []


def test_a_media_swap_never_sets_the_boot_order():
    """Review H1: changing only the ISO is no drive change; set_boot_order needs the VM off."""
    swapped = GEN1.storage[0].model_copy(update={"optical": (OpticalDrive(
        iso="C:\\ISO\\other.iso", port=1),)})
    new = GEN1.model_copy(update={"storage": (swapped, GEN1.storage[1])})
    for running in (True, False):
        calls = plans.update(VM, GEN1, new, running=running, default_switch="")
        assert [c.op for c in calls] == ["update_storage"]
        assert calls[0].args["Media"] and not calls[0].args["AddDvdDrives"]
    added = GEN1.model_copy(update={"storage": (*GEN1.storage, StorageController(
        name="SCSI 2", kind=ControllerKind.SCSI, disks=(Disk(size_bytes=1 << 30),)))})
    ops = [c.op for c in plans.update(VM, GEN1, added, running=False, default_switch="")]
    assert ops == ["update_storage", "set_boot_order"]  # a new drive: boot entries change


def test_generation_2_takes_vhdx_only():
    """Review H3: 'Generation 2 virtual machines only support VHDX format virtual hard drives'."""
    vhd = MachineSpec(name="x", firmware=FirmwareSpec(kind=Firmware.UEFI), storage=(
        StorageController(kind=ControllerKind.SCSI, disks=(Disk(format=DiskFormat.VHD,
                                                                 size_bytes=1 << 30),)),))
    [problem] = placement.problems(vhd)
    assert (problem.field, problem.severity.value) == ("storage", "error")
    assert "VHDX" in problem.message
    vhdx = vhd.model_copy(update={"storage": (StorageController(kind=ControllerKind.SCSI, disks=(
        Disk(format=DiskFormat.VHDX, size_bytes=1 << 30),)),)})
    assert placement.problems(vhdx) == []
    assert placement.problems(GEN1) == []  # Generation 1 keeps its VHD


def test_generation_1_network_boot_is_a_warning():
    """Review H7: PXE from a synthetic adapter is Generation 2 only."""
    spec = GEN1.model_copy(update={"boot_order": (BootDevice.NETWORK, BootDevice.DISK)})
    [problem] = placement.problems(spec)
    assert (problem.field, problem.severity.value) == ("boot_order", "warning")
    uefi = MachineSpec(name="x", firmware=FirmwareSpec(kind=Firmware.UEFI),
                       boot_order=(BootDevice.NETWORK,))
    assert placement.problems(uefi) == []


def test_nested_virtualization_refuses_dynamic_memory():
    """Review H11: a nested-virtualization VM keeps its start-up memory."""
    dynamic = MemorySpec(size_mib=4096, dynamic=DynamicMemory(minimum_mib=1024,
                                                              maximum_mib=8192))
    spec = MachineSpec(name="x", firmware=FirmwareSpec(kind=Firmware.UEFI), memory=dynamic,
                       cpu=CpuSpec(count=2, nested_virtualization=True))
    assert [p.field for p in placement.problems(spec)] == ["memory.dynamic"]
    assert placement.problems(spec.model_copy(update={"cpu": CpuSpec(count=2)})) == []


@pytest.mark.parametrize(("os_version", "vendor", "nested"), [
    ("10.0.22631.0", "GenuineIntel", True), ("10.0.14393.0", "GenuineIntel", True),
    ("10.0.17763.0", "AuthenticAMD", False),  # Server 2019 / Windows 10 on AMD: no
    ("10.0.20348.0", "AuthenticAMD", True), ("10.0.22000.0", "AuthenticAMD", True),
    ("10.0.22631.0", "", False),  # an older host_info that did not say
])
def test_nested_virtualization_by_vendor_and_build(os_version: str, vendor: str, nested: bool):
    """Review H6: Intel from 2016/Windows 10, AMD from Server 2022/Windows 11."""
    row = {"OsVersion": os_version, "NestedSupported": True, "ProcessorManufacturer": vendor}
    assert host_facts(row).nested is nested
    assert capabilities(host_facts(row), local=True).nested_virtualization is nested
