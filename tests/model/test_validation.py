"""validate(): each kind of problem is caught with a message that names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktopvm.model import (
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
    Severity,
    StorageController,
    defaults_for,
    errors,
    validate,
)
from tests.model.caps import BIOS_ONLY, TEST_CAPS

GIB = 1024**3


def fields(problems, severity=Severity.ERROR):
    return {p.field for p in problems if p.severity is severity}


def base(**update) -> MachineSpec:
    spec = defaults_for("debian12", TEST_CAPS, name="web")
    return spec.model_copy(update=update)


def test_catalog_defaults_are_valid_for_every_os():
    from desktopvm.model import catalog

    for os_id in catalog().ids():
        spec = defaults_for(os_id, TEST_CAPS)
        assert errors(validate(spec, TEST_CAPS)) == [], os_id


@pytest.mark.parametrize("count", [0, 9])
def test_cpu_count_bounds(count):
    problems = validate(base(cpu=CpuSpec(count=count)), TEST_CAPS)
    assert "cpu.count" in fields(problems)


def test_memory_over_the_host_is_an_error_naming_the_limit():
    problems = validate(base(memory=MemorySpec(size_mib=32768)), TEST_CAPS)
    [problem] = [p for p in problems if p.field == "memory.size_mib"]
    assert "16384 MiB" in problem.message


def test_dynamic_memory_where_unsupported_and_inverted_range():
    spec = base(memory=MemorySpec(size_mib=2048, dynamic=DynamicMemory(minimum_mib=512,
                                                                       maximum_mib=4096)))
    assert "memory.dynamic" in fields(validate(spec, TEST_CAPS))
    caps = TEST_CAPS.model_copy(update={"dynamic_memory": True})
    assert "memory.dynamic" not in fields(validate(spec, caps))
    inverted = base(memory=MemorySpec(size_mib=8192, dynamic=DynamicMemory(minimum_mib=512,
                                                                          maximum_mib=4096)))
    assert "memory.dynamic" in fields(validate(inverted, caps))


def test_secure_boot_on_bios_is_a_uefi_only_error():
    spec = base(firmware=FirmwareSpec(kind=Firmware.BIOS, secure_boot=True))
    problems = validate(spec, TEST_CAPS)
    [problem] = [p for p in problems if p.field == "firmware.secure_boot"]
    assert "UEFI" in problem.message


def test_secure_boot_and_tpm_where_unsupported():
    spec = base(firmware=FirmwareSpec(kind=Firmware.UEFI, secure_boot=True, tpm=True))
    problems = validate(spec, BIOS_ONLY)
    assert {"firmware.kind", "firmware.tpm"} <= fields(problems)
    tpm = next(p for p in problems if p.field == "firmware.tpm")
    assert "swtpm is not installed" in tpm.message


def test_disk_format_and_controller_the_backend_cannot_use():
    spec = base(storage=(StorageController(kind=ControllerKind.SCSI, disks=(
        Disk(format=DiskFormat.VHDX, size_bytes=GIB),)),))
    problems = fields(validate(spec, TEST_CAPS))
    assert {"storage[0].kind", "storage[0].disks[0].format"} <= problems


def test_two_disks_on_one_port():
    spec = base(storage=(StorageController(kind=ControllerKind.SATA, disks=(
        Disk(size_bytes=GIB, port=1), Disk(size_bytes=GIB, port=1))),))
    assert "storage[0].disks[1].port" in fields(validate(spec, TEST_CAPS))


def test_ide_master_and_slave_share_a_port_but_not_a_device():
    ok = base(storage=(StorageController(kind=ControllerKind.IDE, disks=(
        Disk(size_bytes=GIB, port=0, device=0), Disk(size_bytes=GIB, port=0, device=1))),))
    assert errors(validate(ok, TEST_CAPS)) == []
    too_far = base(storage=(StorageController(kind=ControllerKind.IDE, disks=(
        Disk(size_bytes=GIB, port=2),)),))
    assert "storage[0].disks[0].port" in fields(validate(too_far, TEST_CAPS))


def test_optical_drive_on_nvme_is_refused():
    spec = base(storage=(StorageController(kind=ControllerKind.NVME, optical=(OpticalDrive(),)),))
    assert "storage[0].optical" in fields(validate(spec, TEST_CAPS))


def test_duplicate_macs_and_multicast_mac():
    spec = base(network=(
        NetworkAdapter(mac="52:54:00:12:34:56"),
        NetworkAdapter(mac="52-54-00-12-34-56"),
        NetworkAdapter(mac="01:00:5e:00:00:01"),
    ))
    problems = validate(spec, TEST_CAPS)
    assert {"network[1].mac", "network[2].mac"} <= fields(problems)


def test_bridged_without_an_interface_and_unsupported_attachment():
    spec = base(network=(NetworkAdapter(attachment=NetworkAttachment.BRIDGED),
                         NetworkAdapter(attachment=NetworkAttachment.SWITCH, network="Default")))
    problems = fields(validate(spec, TEST_CAPS))
    assert {"network[0].network", "network[1].attachment"} <= problems


def test_iso_that_does_not_exist(tmp_path: Path):
    missing = tmp_path / "nope.iso"
    spec = base(storage=(StorageController(kind=ControllerKind.SATA, optical=(
        OpticalDrive(iso=str(missing)),)),))
    problems = validate(spec, TEST_CAPS)
    assert any(str(missing) in p.message for p in problems if p.field.endswith(".iso"))
    assert validate(spec, TEST_CAPS, check_paths=False) == []


def test_new_disk_never_overwrites_and_existing_disk_must_exist(tmp_path: Path):
    present = tmp_path / "a.qcow2"
    present.write_bytes(b"x")
    spec = base(storage=(StorageController(kind=ControllerKind.SATA, disks=(
        Disk(path=str(present), size_bytes=GIB, port=0),
        Disk(path=str(tmp_path / "b.qcow2"), existing=True, port=1))),))
    assert {"storage[0].disks[0].path", "storage[0].disks[1].path"} <= fields(
        validate(spec, TEST_CAPS))


@pytest.mark.parametrize("name", ["", "   ", "a/b", "back\\slash", "new\nline", " lead"])
def test_names_the_backend_refuses(name):
    assert "name" in fields(validate(base(name=name), TEST_CAPS))


def test_quotes_and_unicode_in_names_are_fine():
    assert errors(validate(base(name="Bob's \"test\" VM ‘ü’ $(x); `y`"), TEST_CAPS)) == []


def test_windows11_without_tpm_and_secure_boot_is_warned_by_name():
    spec = defaults_for("windows11", BIOS_ONLY, name="w11")
    problems = validate(spec, BIOS_ONLY)
    assert errors(problems) == []
    [warning] = [p for p in problems if p.field == "os"]
    assert warning.severity is Severity.WARNING
    for need in ("Windows 11", "UEFI", "Secure Boot", "TPM 2.0"):
        assert need in warning.message


def test_windows11_defaults_on_a_capable_backend_have_no_warning():
    spec = defaults_for("windows11", TEST_CAPS, name="w11")
    assert spec.firmware == FirmwareSpec(kind=Firmware.UEFI, secure_boot=True,
                                         secure_boot_template=spec.firmware.secure_boot_template,
                                         tpm=True)
    assert spec.memory.size_mib == 4096
    assert spec.all_disks()[0][1].size_bytes == 64 * GIB
    assert validate(spec, TEST_CAPS) == []


def test_unknown_os_is_a_warning_not_an_error():
    problems = validate(base(os="plan9"), TEST_CAPS)
    assert fields(problems, Severity.WARNING) == {"os"}
    assert errors(problems) == []


def test_bios_only_controllers_are_refused_with_uefi_and_avoided_by_defaults():
    caps = TEST_CAPS.model_copy(update={"bios_only_controllers": frozenset({ControllerKind.IDE}),
                                        "controller_kinds": frozenset({ControllerKind.IDE,
                                                                       ControllerKind.SCSI})})
    spec = defaults_for("windows11", caps, name="w11")
    assert {c.kind for c in spec.storage} == {ControllerKind.SCSI}
    assert errors(validate(spec, caps)) == []
    ide = spec.model_copy(update={"storage": (StorageController(kind=ControllerKind.IDE, disks=(
        Disk(size_bytes=GIB),)),)})
    assert "storage[0].kind" in fields(validate(ide, caps))
    assert "storage[0].kind" not in fields(validate(ide.model_copy(update={
        "firmware": FirmwareSpec(kind=Firmware.BIOS)}), caps))
