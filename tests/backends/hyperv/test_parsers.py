"""Parsers over the real captures in ../shared/fixtures and hand-written samples in tests/data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv import parsers
from backends.hyperv.errors import error_for
from backends.hyperv.framing import parse_frame
from backends.hyperv.translate import machine_info, spec_from_details
from backends.hyperv.winrm_transport import clixml_text
from desktopvm.model import (
    BootDevice,
    ControllerKind,
    DiskFormat,
    Firmware,
    NetworkAttachment,
    NicModel,
    SecureBootTemplate,
    SerialMode,
)
from desktopvm.protocol import CommandFailed, PowerState
from tests.conftest import DATA

SAMPLES = DATA / "hyperv"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


# -- real captures ------------------------------------------------------------------------------
def test_scsi_controller_capture_with_numeric_enums(shared_fixtures: Path):
    """Vagrant's Get-VMScsiController | ConvertTo-Json -Depth 20 (PowerShell 5.1)."""
    controller = json.loads((shared_fixtures / "vagrant_hyperv_get_vmscsicontroller_json_depth20"
                             ".json").read_text(encoding="utf-8-sig"))
    drives = parsers.as_list(controller["Drives"])
    details = {"Id": controller["VMId"], "Name": controller["VMName"], "Generation": 2,
               "HardDrives": [d for d in drives if "DvdMediaType" not in d],
               "DvdDrives": [d for d in drives if "DvdMediaType" in d]}
    spec = spec_from_details(details)
    [scsi] = spec.storage
    assert scsi.kind is ControllerKind.SCSI
    [disk] = scsi.disks
    assert disk.path.endswith("ubuntu-18.04-amd64.vhdx")
    assert (disk.format, disk.port, disk.existing) == (DiskFormat.VHDX, 0, True)
    [dvd] = scsi.optical
    assert (dvd.iso, dvd.port) == ("C:\\Users\\Vagrant\\deb2.iso", 2)
    assert parsers.enum_name(drives[0]["ControllerType"], parsers.CONTROLLER_TYPES) == "SCSI"


def test_vm_state_from_the_clixml_capture(shared_fixtures: Path):
    """Get-VM | Select-Object … serialised: State is <ToString>Off</ToString><I32>3</I32>."""
    root = ET.parse(shared_fixtures / "pwshhost_hyperv_get_vm_select_clixml.xml").getroot()
    ns = {"ps": "http://schemas.microsoft.com/powershell/2004/04"}
    state = root.find(".//ps:Obj[@N='State']", ns)
    assert state is not None
    name, number = state.findtext("ps:ToString", "", ns), state.findtext("ps:I32", "", ns)
    assert parsers.power_state(name) is PowerState.OFF
    assert parsers.power_state(int(number)) is PowerState.OFF


@pytest.mark.parametrize("capture", [
    "msdocs_wsl_interop_get_vm_table.txt",
    "vagrant_issue11073_get_vmnetworkadapter_table_fr.txt",
    "dockerforwin294_get_vmswitch_fl_excerpt.txt",
])
def test_display_text_is_never_taken_for_a_reply(shared_fixtures: Path, capture: str):
    """Localised tables (French 'Carte réseau', truncated 'Opera...') are noise to the framing."""
    for line in (shared_fixtures / capture).read_bytes().splitlines():
        assert parse_frame(line) is None


def test_a_parse_error_record_maps_to_command_failed(shared_fixtures: Path):
    text = (shared_fixtures / "vagrant_issue10744_powershell_quote_parse_error.txt").read_text(
        encoding="utf-8")
    fqid = text.split("FullyQualifiedErrorId :")[1].strip()
    error = error_for("create_vm", {"category": "ParserError", "fqid": fqid,
                                    "message": "The string is missing the terminator: '."}, "hv")
    assert isinstance(error, CommandFailed)
    assert error.summary == "Hyper-V could not create the machine: The string is missing the " \
                            "terminator: '."


def test_clixml_stderr_from_winrm_becomes_text(shared_fixtures: Path):
    raw = (shared_fixtures / "pywinrm_run_ps_stderr_clixml_error.txt").read_bytes()
    text = clixml_text(raw)
    assert "The term 'fake' is not recognized" in text
    assert "FullyQualifiedErrorId : CommandNotFoundException" in text
    assert "Preparing modules" not in text  # progress records are dropped
    assert "_x000D_" not in text


# -- samples ------------------------------------------------------------------------------------
def test_generation_2_with_every_51_quirk():
    info = machine_info(sample("get_vm_gen2_ps51.json"), "hv01", "debian12")
    spec = info.spec
    assert info.state is PowerState.RUNNING
    assert info.summary.id == "6f225311-b793-49cf-98a3-0a32108e49bb"
    assert (spec.name, spec.os, spec.notes) == ("web ‘prod’", "debian12", "line one\r\nline two")
    assert spec.firmware.kind is Firmware.UEFI
    assert spec.firmware.secure_boot is True
    assert spec.firmware.secure_boot_template is SecureBootTemplate.MICROSOFT_UEFI_CA
    assert spec.firmware.tpm is True
    assert (spec.cpu.count, spec.cpu.nested_virtualization) == (4, True)
    assert spec.memory.size_mib == 4096
    assert spec.memory.dynamic is not None
    assert (spec.memory.dynamic.minimum_mib, spec.memory.dynamic.maximum_mib) == (512, 8192)
    assert [c.name for c in spec.storage] == ["SCSI 0", "SCSI 1"]
    [disk] = spec.storage[0].disks
    assert (disk.format, disk.size_bytes) == (DiskFormat.VHDX, 64 << 30)
    assert spec.storage[0].optical[0].iso == "C:\\ISO\\debian-12.iso"
    nat, lan = spec.network
    assert (nat.attachment, nat.network, nat.mac) == (NetworkAttachment.NAT, "", "")
    assert (lan.attachment, lan.network, lan.mac) == (NetworkAttachment.SWITCH, "LAN",
                                                      "00:15:5D:AA:BB:CC")
    assert nat.model is NicModel.SYNTHETIC
    [com1] = spec.serial
    assert (com1.number, com1.mode, com1.path) == (1, SerialMode.PIPE, r"\\.\pipe\web-com1")
    assert spec.boot_order == (BootDevice.DISK,)
    [checkpoint] = info.snapshots
    assert (checkpoint.name, checkpoint.description) == ("before upgrade", "clean install")
    assert checkpoint.created == "2015-07-07T02:38:21+00:00"
    assert info.current_snapshot == checkpoint.id
    assert info.guest_addresses == ("172.20.10.5", "fe80::215:5dff:fe38:186")


def test_generation_1_with_ide_and_a_legacy_adapter():
    spec = spec_from_details(sample("get_vm_gen1.json"))
    assert spec.firmware.kind is Firmware.BIOS and not spec.firmware.secure_boot
    assert spec.os == "other"
    ide, scsi = spec.storage
    assert ide.kind is ControllerKind.IDE
    assert [(d.port, d.device, d.format) for d in ide.disks] == [(0, 0, DiskFormat.VHD)]
    assert [(o.port, o.device, o.iso) for o in ide.optical] == [(1, 0, "")]
    assert [(d.port, d.path) for d in scsi.disks] == [(3, "E:\\data.vhdx")]
    [legacy] = spec.network
    assert (legacy.attachment, legacy.model, legacy.mac) == (NetworkAttachment.NONE, None, "")
    assert spec.boot_order == (BootDevice.OPTICAL, BootDevice.DISK, BootDevice.NETWORK)
    assert spec.memory.dynamic is None


def test_a_lone_object_is_an_inventory_of_one():
    [machine] = parsers.inventory(sample("list_vms_single_object.json"), "hv01",
                                  {"fbac8867-40ca-4032-a8e0-901c7f004cd7": "windows11"})
    assert (machine.name, machine.state, machine.os) == ("IT-HELP-DVLS", PowerState.OFF,
                                                         "windows11")
    assert (machine.cpus, machine.memory_mib, machine.host) == (2, 2048, "hv01")
    assert parsers.inventory(None, "hv01", {}) == []
    assert parsers.inventory({"VMs": None}, "hv01", {}) == []


def test_host_facts_with_numeric_switch_types():
    facts = parsers.host_facts(sample("host_info.json"))
    assert (facts.cpus, facts.memory_mib, facts.default_switch) == (16, 65536, "Default Switch")
    networks = facts.networks()
    assert [(n.attachment, n.name) for n in networks] == [
        ("nat", "Default Switch"), ("switch", "External"), ("switch", "lab")]
    assert networks[1].description == "External switch on Intel(R) Ethernet Connection I219-LM"
    assert networks[2].description == "Private switch"
    assert SecureBootTemplate.OPEN_SOURCE_SHIELDED_VM in facts.templates


def test_vhd_info():
    info = parsers.disk_info(sample("get_vhd.json"))
    assert (info.format, info.virtual_size, info.actual_size) == ("vhdx", 64 << 30, 4 << 20)
    assert info.backing_file.endswith("web.vhdx")
    assert info.details["VhdType"] == "Differencing"


def test_checkpoint_tree_with_branches_orphans_and_mixed_dates():
    roots = parsers.snapshot_tree(sample("checkpoints_tree.json"))
    assert [r.name for r in roots] == ["orphan", "base"]
    base = roots[1]
    assert [c.name for c in base.children] == ["branch a", "branch b"]
    assert base.children[1].created == "2024-05-01T21:46:40+00:00"
    assert base.children[1].has_memory is True and base.children[0].has_memory is False
    assert roots[0].has_memory is True  # State 9 = Paused


@pytest.mark.parametrize(("value", "expected"), [
    ("Running", PowerState.RUNNING), (2, PowerState.RUNNING),
    ("RunningCritical", PowerState.RUNNING),
    (32781, PowerState.RUNNING), (32784, PowerState.SAVED), ("FastSaved", PowerState.SAVED),
    (6, PowerState.SAVED), (9, PowerState.PAUSED), (32776, PowerState.STOPPING),
    (32777, PowerState.STARTING), ("Other", PowerState.UNKNOWN), (None, PowerState.UNKNOWN),
    (12345, PowerState.UNKNOWN),
])
def test_power_states(value: object, expected: PowerState):
    assert parsers.power_state(value) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("/Date(1436236701491)/", "2015-07-07T02:38:21+00:00"),
    ("\\/Date(1436236701491)\\/", "2015-07-07T02:38:21+00:00"),
    ("/Date(1436236701491+0200)/", "2015-07-07T02:38:21+00:00"),
    ("2021-08-05T16:13:05.6394416-07:00", "2021-08-05T23:13:05+00:00"),
    ("2021-08-05T16:13:05", "2021-08-05T16:13:05+00:00"),
    ("", ""), (None, ""), ("not a date", "not a date"),
])
def test_dates(value: object, expected: str):
    assert parsers.iso_date(value) == expected
