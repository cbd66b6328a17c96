"""Command plans (argv lists) per version: golden data, documented syntax, update by diff.

Golden files: tests/data/vboxmanage/plans/<series>.json. After an intended change, rewrite
them with `UPDATE_GOLDEN=1 pytest tests/backends/virtualbox/test_plans.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from backends.virtualbox.capabilities import HostFacts, capabilities
from backends.virtualbox.changes import update_plan
from backends.virtualbox.plans import Host, Target, create_plan, create_vm, secure_boot_steps
from backends.virtualbox.translate import OsTypes
from backends.virtualbox.versions import SERIES_NAMES, dialect_named
from desktopvm.model import (
    ControllerKind,
    CpuSpec,
    Disk,
    DiskFormat,
    FirmwareSpec,
    MachineSpec,
    MemorySpec,
    NetworkAdapter,
    NetworkAttachment,
    NicModel,
    OpticalDrive,
    PortForward,
    SerialMode,
    SerialPort,
    StorageController,
    UsbSpec,
    UsbVersion,
    catalog,
    defaults_for,
    errors,
    validate,
)
from desktopvm.protocol import InvalidState, PowerState, UnsupportedOperation
from tests.backends.virtualbox.conftest import SAMPLES
from tests.backends.virtualbox.syntax import undocumented

UUID = "11111111-2222-4333-8444-555555555555"
FOLDER = "/vms/demo"
GIB = 1024**3


def target(series: str, host: Host | None = None) -> Target:
    return Target(UUID, FOLDER, dialect_named(series), host or Host())


def everything() -> MachineSpec:
    """A BIOS machine using most of the model: IDE + SCSI, four kinds of NIC, serial, USB 3."""
    return MachineSpec(
        name="-everything ‘quoted’", notes='two\nlines with "quotes"', os="debian12",
        cpu=CpuSpec(count=2, nested_virtualization=True), memory=MemorySpec(size_mib=1536),
        storage=(
            StorageController(name="IDE", kind=ControllerKind.IDE, optical=(
                OpticalDrive(iso="/iso/debian.iso", port=1, device=0),)),
            StorageController(name="SCSI disks", kind=ControllerKind.SCSI, disks=(
                Disk(format=DiskFormat.VMDK, size_bytes=10 * GIB + 1),
                Disk(path="/data/existing.vdi", format=DiskFormat.VDI, port=1, existing=True),
            )),
        ),
        network=(
            NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.VIRTIO,
                           port_forwards=(PortForward(name="ssh", host_port=2222,
                                                      guest_port=22),)),
            NetworkAdapter(attachment=NetworkAttachment.BRIDGED, network="eth0",
                           mac="08:00:27:aa:bb:cc", model=NicModel.E1000),
            NetworkAdapter(attachment=NetworkAttachment.INTERNAL, network="lab",
                           model=NicModel.PCNET),
            NetworkAdapter(attachment=NetworkAttachment.HOST_ONLY, network="vboxnet0"),
        ),
        usb=UsbSpec(version=UsbVersion.USB3, tablet=False),
        serial=(SerialPort(number=1, mode=SerialMode.SOCKET),
                SerialPort(number=2, mode=SerialMode.FILE, path="/logs/com2.log")),
    )


def create_cases(series: str) -> dict[str, MachineSpec]:
    caps = capabilities(dialect_named(series), HostFacts(cpus=8, memory_mib=16384), Host())
    return {
        "create_windows11": defaults_for("windows11", caps, name="Windows 11"),
        "create_other_linux": defaults_for("other-linux", caps, name="linux"),
        "create_everything": everything(),
    }


def plans_for(series: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, spec in create_cases(series).items():
        entry = catalog().get(spec.os)
        assert entry is not None
        os_type = OsTypes().choose(entry.backend_ids["virtualbox"],
                                   entry.backend_ids.get("virtualbox_fallback", ""),
                                   series == "6.1")
        first = create_vm(spec, UUID, os_type, dialect_named(series), Host())
        steps, _ = create_plan(spec, entry.family.value, target(series))
        result[name] = [list(first.argv)] + [list(s.argv) for s in steps]
    base = everything().model_copy(update={"storage": (StorageController(
        name="SATA", kind=ControllerKind.SATA, disks=(Disk(path="/vms/demo/disk0.vdi",
                                                           format=DiskFormat.VDI,
                                                           existing=True),)),)})
    edits = {
        "update_cpu_memory_notes": base.model_copy(update={
            "cpu": CpuSpec(count=4), "memory": MemorySpec(size_mib=4096), "notes": "new"}),
        "update_add_disk_and_dvd": base.model_copy(update={"storage": (base.storage[0].model_copy(
            update={"disks": (*base.storage[0].disks, Disk(format=DiskFormat.VDI,
                                                           size_bytes=GIB, port=1)),
                    "optical": (OpticalDrive(port=2),)}),)}),
        "update_network": base.model_copy(update={"network": (
            *base.network[:1], NetworkAdapter(attachment=NetworkAttachment.NAT,
                                              network="NatNetwork"))}),
    }
    for name, new in edits.items():
        change, _ = update_plan(base, new, PowerState.OFF, target(series), disk_index=1)
        result[name] = [list(s.argv) for s in change.steps]
    return result


@pytest.mark.parametrize("series", SERIES_NAMES)
def test_plans_match_golden_data(series):
    path = SAMPLES / "plans" / f"{series}.json"
    plans = plans_for(series)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(json.dumps(plans, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert plans == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("series", SERIES_NAMES)
def test_every_planned_option_is_documented_for_its_version(series):
    for name, argvs in plans_for(series).items():
        for argv in argvs:
            assert undocumented(argv, series) == [], (name, argv)


@pytest.mark.parametrize("series", SERIES_NAMES)
def test_default_specs_are_valid_for_the_capabilities_they_came_from(series):
    facts = HostFacts(cpus=8, memory_mib=16384, nested_virtualization=True)
    caps = capabilities(dialect_named(series), facts, Host())
    for spec in create_cases(series).values():
        assert errors(validate(spec, caps, check_paths=False)) == []


def test_version_differences_in_spelling_and_features():
    argv_61 = plans_for("6.1")["create_everything"][1]
    argv_72 = plans_for("7.2")["create_everything"][1]
    assert "--nictype1=virtio" in argv_61 and "--nic-type1=virtio" in argv_72
    assert "--nested-hw-virt=on" in argv_61 and "--x86-nested-hw-virt=on" in argv_72
    assert not any(a.startswith("--tpm-type") for a in argv_61)
    assert "--tpm-type=none" in argv_72
    assert plans_for("7.1")["create_windows11"][0][-1] == "--platform-architecture=x86"
    assert plans_for("7.0")["create_windows11"][0][-1] == "--register"
    windows_70 = [a for a in plans_for("7.0")["create_windows11"] if a[0] == "modifynvram"]
    windows_71 = [a for a in plans_for("7.1")["create_windows11"] if a[0] == "modifynvram"]
    assert [a[2] for a in windows_70] == ["inituefivarstore", "enrollmssignatures", "enrollorclpk"]
    assert [a[2] for a in windows_71][-1] == "secureboot"
    assert not any(a[0] == "modifynvram" for a in plans_for("6.1")["create_windows11"])


def test_no_tpm_or_secure_boot_before_70():
    spec = everything().model_copy(update={"firmware": FirmwareSpec(tpm=True)})
    with pytest.raises(UnsupportedOperation, match=r"7\.0"):
        create_plan(spec, "linux", target("6.1"))
    with pytest.raises(UnsupportedOperation, match="Secure Boot"):
        secure_boot_steps(UUID, True, dialect_named("6.1"))
    assert secure_boot_steps(UUID, False, dialect_named("6.1")) == []


def test_host_only_uses_networks_on_macos_70_only():
    adapters = everything().network
    spec = everything().model_copy(update={"network": adapters[3:]})
    mac = create_plan(spec, "linux", target("7.0", Host(macos=True)))[0][0].argv
    linux = create_plan(spec, "linux", target("7.0"))[0][0].argv
    assert "--nic1=hostonlynet" in mac and "--host-only-net1=vboxnet0" in mac
    assert "--nic1=hostonly" in linux and "--host-only-adapter1=vboxnet0" in linux


def test_windows_host_paths_and_pipes():
    spec = everything()
    windows = Target(UUID, r"C:\VMs\demo", dialect_named("7.0"), Host(windows=True))
    steps, final = create_plan(spec, "linux", windows)
    main = steps[0].argv
    assert main[main.index("--uart1") + 5] == rf"\\.\pipe\desktopvm-{UUID}-com1"
    assert final.storage[1].disks[0].path == r"C:\VMs\demo\disk0.vmdk"


def test_new_disks_get_paths_and_become_existing():
    _, final = create_plan(everything(), "linux", target("7.0"))
    new, kept = final.storage[1].disks
    assert (new.path, new.existing) == ("/vms/demo/disk0.vmdk", True)
    assert kept.path == "/data/existing.vdi"


class TestUpdateWhileRunning:
    base = everything()

    def plan(self, new: MachineSpec, state: PowerState = PowerState.RUNNING):
        return update_plan(self.base, new, state, target("7.0"))[0]

    def test_offline_changes_are_refused_with_the_fields_named(self):
        with pytest.raises(InvalidState, match="cpu, memory"):
            self.plan(self.base.model_copy(update={"cpu": CpuSpec(count=1),
                                                   "memory": MemorySpec(size_mib=512)}))

    def test_dvd_change_is_a_single_storageattach(self):
        ide = self.base.storage[0]
        new = self.base.model_copy(update={"storage": (ide.model_copy(update={"optical": (
            OpticalDrive(iso="/iso/other.iso", port=1),)}), self.base.storage[1])})
        change = self.plan(new)
        assert [s.argv for s in change.steps] == [(
            "storageattach", UUID, "--storagectl=IDE", "--port=1", "--device=0",
            "--type=dvddrive", "--medium=/iso/other.iso")]

    def test_replugging_an_adapter_uses_controlvm(self):
        nics = list(self.base.network)
        nics[1] = nics[1].model_copy(update={"network": "wlan0"})
        nics[2] = nics[2].model_copy(update={"attachment": NetworkAttachment.NAT, "network": ""})
        change = self.plan(self.base.model_copy(update={"network": tuple(nics)}))
        assert [s.argv for s in change.steps] == [
            ("controlvm", UUID, "nic2", "bridged", "wlan0"), ("controlvm", UUID, "nic3", "nat")]

    def test_saved_machines_can_be_renamed_only(self):
        renamed = self.plan(self.base.model_copy(update={"name": "new"}), PowerState.SAVED)
        assert [s.argv for s in renamed.steps] == [("modifyvm", UUID, "--name=new")]
        with pytest.raises(InvalidState, match="saved"):
            self.plan(self.base.model_copy(update={"cpu": CpuSpec(count=1)}), PowerState.SAVED)

    def test_nothing_changed_means_no_calls(self):
        assert self.plan(self.base).steps == []


def test_long_socket_paths_move_to_the_runtime_folder():
    deep = Target(UUID, "/home/someone/" + "very long folder name/" * 4, dialect_named("7.0"),
                  Host(runtime_dir="/run/user/1000"))
    argv = create_plan(everything(), "linux", deep)[0][0].argv
    assert argv[argv.index("--uart1") + 5] == f"/run/user/1000/desktopvm-{UUID}-com1.sock"


@pytest.mark.parametrize(("series", "option"), [("6.1", "--ostype"), ("7.2", "--os-type")])
def test_a_changed_os_sets_virtualboxs_type_not_only_our_marker(series: str, option: str):
    # Real 7.2 showed the old type after an OS change: only DesktopVM/OS had been set.
    old = everything()
    new = old.model_copy(update={"os": "ubuntu24.04"})
    change, _ = update_plan(old, new, PowerState.OFF, target(series), os_type="Ubuntu24_LTS_64")
    argvs = [list(step.argv) for step in change.steps]
    assert [a for a in argvs if a[0] == "modifyvm"] == [
        ["modifyvm", target(series).uuid, f"{option}=Ubuntu24_LTS_64"]]
    assert ["setextradata", target(series).uuid, "DesktopVM/OS", "ubuntu24.04"] in argvs
    for argv in argvs:
        assert undocumented(argv, series) == [], argv


@pytest.mark.parametrize("series", ["7.1", "7.2"])
def test_an_arm_machine_gets_no_x86_only_option(series):
    """Review V4: --x86-nested-hw-virt names an x86 platform object an ARM machine lacks."""
    spec = MachineSpec(name="arm", os="ubuntu2404")
    for arm, wanted in ((True, False), (False, True)):
        target = Target(UUID, FOLDER, dialect_named(series), Host(arm=arm))
        steps, _ = create_plan(spec, "linux", target)
        created = any("--x86-nested-hw-virt" in arg for step in steps for arg in step.argv)
        change, _ = update_plan(spec, spec.model_copy(update={"cpu": CpuSpec(count=2)}),
                                PowerState.OFF, target)
        changed = any("--x86-nested-hw-virt" in arg for step in change.steps for arg in step.argv)
        assert (created, changed) == (wanted, wanted)
