"""The backend's readers on real VirtualBox 7.2.22 outputs (tests/data/virtualbox/7.2).

Each test here guards a bug the real tool showed (the captures came from
tests/backends/virtualbox/real/capture.py; PROVENANCE.md says how). They run without the
real tool, so they hold on every machine.
"""

from __future__ import annotations

import pytest

from backends.virtualbox.capabilities import HostFacts, capabilities
from backends.virtualbox.disksize import capacity_from
from backends.virtualbox.parse import (
    parse_error,
    parse_machine_readable,
    parse_pairs,
    parse_snapshot_tree,
    parse_vm_list,
    split_driver_warning,
)
from backends.virtualbox.plans import Host
from backends.virtualbox.settingsfile import facts_from_xml, read_settings_file
from backends.virtualbox.translate import OsTypes, spec_from
from backends.virtualbox.vboxmanage import Result, failure_for
from backends.virtualbox.versions import dialect_named, parse_version
from desktopvm.model import ControllerKind, Firmware, catalog, defaults_for
from desktopvm.ovf import read_manifest
from desktopvm.protocol import CommandFailed
from tests.conftest import DATA

REAL = DATA / "virtualbox" / "7.2"
GIB = 1024**3


def real(name: str) -> str:
    """A real 7.2 output, as captured (the launcher's WARNING block included)."""
    return (REAL / name).read_text(encoding="utf-8")


def os_types() -> OsTypes:
    return OsTypes.from_list_output(split_driver_warning(real("list_ostypes.txt"))[0])


def test_the_launchers_driver_warning_is_split_off_every_output():
    for name in ("version.txt", "list_vms_empty.txt" if (REAL / "list_vms_empty.txt").exists()
                 else "createvm.txt", "showvminfo_win11_efi_secureboot_tpm.txt"):
        text, warning = split_driver_warning(real(name))
        assert warning == "WARNING: The character device /dev/vboxdrv does not exist."
        assert "vboxdrv" not in text and "You will not be able" not in text
        assert not text.startswith(("\t", "\n"))
    assert str(parse_version(split_driver_warning(real("version.txt"))[0])) == "7.2.22"
    assert split_driver_warning('name="x"\n') == ('name="x"\n', "")


@pytest.mark.parametrize("listing", ["list_ostypes.txt", "list_ostypes_long.txt"])
def test_os_type_list_of_72_maps_descriptions_to_ids(listing: str):
    types = OsTypes.from_list_output(split_driver_warning(real(listing))[0])
    assert len(types.descriptions) > 100
    assert types.id_for("Ubuntu (64-bit)") == "Ubuntu_64"
    assert types.id_for("Windows 11 (64-bit)") == "Windows11_64"
    assert types.descriptions["Debian12_64"] == "Debian 12 Bookworm (64-bit)"


def test_a_machine_virtualbox_made_shows_its_os():
    text, _ = split_driver_warning(real("showvminfo_ubuntu_made_by_virtualbox.txt"))
    info = parse_machine_readable(text)
    assert info.get("ostype") == "Ubuntu (64-bit)"  # 7.x prints the description, not the id
    spec = spec_from(info, read_settings_file(""), os_types(), catalog())
    assert spec.os == "ubuntu24.04"


def test_windows11_made_by_virtualbox_reads_back_whole():
    text, _ = split_driver_warning(real("showvminfo_win11_efi_secureboot_tpm.txt"))
    facts = facts_from_xml(_xml(real("win11.vbox")))
    spec = spec_from(parse_machine_readable(text), facts, os_types(), catalog())
    assert spec.os == "windows11"
    assert (spec.firmware.kind, spec.firmware.secure_boot, spec.firmware.tpm) == (
        Firmware.UEFI, True, True)
    assert (spec.cpu.count, spec.memory.size_mib, spec.display.video_memory_mib) == (2, 4096, 128)
    nvme, sata = spec.storage
    assert (nvme.kind, sata.kind) == (ControllerKind.NVME, ControllerKind.SATA)
    assert nvme.disks[0].path.endswith("/win11/win11.vdi") and not sata.disks
    assert [(o.port, o.iso) for o in sata.optical] == [(1, "")]


def test_the_header_of_a_64_gib_vdi_says_64_gib():
    head = (REAL / "win11.vdi.head").read_bytes()
    assert capacity_from(head) == 64 * GIB
    info = parse_pairs(split_driver_warning(real("showmediuminfo_64g.txt"))[0])
    assert info["Capacity"] == "65536 MBytes"


def test_without_the_driver_virtualbox_counts_no_processors_and_this_computers_count_stands_in(
        monkeypatch: pytest.MonkeyPatch):
    hostinfo = split_driver_warning(real("list_hostinfo.txt"))[0]
    assert parse_pairs(hostinfo)["Processor online count"] == "0"
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    facts = HostFacts.from_outputs(hostinfo,
                                   split_driver_warning(real("list_systemproperties.txt"))[0])
    assert facts.cpus == 6
    caps = capabilities(dialect_named("7.2"), facts, Host())
    spec = defaults_for("windows11", caps)
    assert spec.cpu.count == 2  # Windows 11 setup refuses fewer than 2 cores
    assert (spec.firmware.tpm, spec.firmware.secure_boot) == (True, True)


def test_virtualbox_manifests_with_spaces_are_read():
    for name, algorithm in (("export_ovf10.mf", "sha1"), ("export_ovf20.mf", "sha256")):
        [(file, (found, digest))] = read_manifest(real(name), name).items()
        assert file.endswith(".ovf") and found == algorithm
        assert len(digest) == (40 if algorithm == "sha1" else 64)


def test_startvm_without_the_driver_fails_with_virtualboxs_words():
    stdout, _ = split_driver_warning(real("startvm_without_driver.txt"))
    result = Result(("VBoxManage", "startvm", "x", "--type=headless"),
                    int(real("startvm_without_driver.txt.exit")), stdout,
                    real("startvm_without_driver.txt.stderr"), 0.1)
    failure = failure_for(result)
    assert isinstance(failure, CommandFailed)
    assert "terminated unexpectedly during startup" in failure.summary


def test_snapshot_tree_and_the_linked_base_delete_error():
    info = parse_machine_readable(split_driver_warning(real("snapshot_list.txt"))[0])
    roots, current = parse_snapshot_tree(info)
    assert [r.name for r in roots] == ["first"] and roots[0].description == "the base"
    assert [c.name for c in roots[0].children] == ["second"]
    assert current == roots[0].children[0].id
    error = parse_error(real("unregistervm_delete_base_of_linked_clone.txt.stderr"))
    assert error is not None and error.code == "VBOX_E_OBJECT_IN_USE"
    assert parse_vm_list(split_driver_warning(real("createvm.txt"))[0]) == []


def _xml(text: str):
    import defusedxml.ElementTree as SafeXml

    return SafeXml.fromstring(text)


FAKE_SESSION = [  # what capture.py did to the "ubuntu" machine, in the same words
    ["modifyvm", "ubuntu", "--description=two\nlines", "--nat-pf1=ssh,tcp,,2222,,22",
     "--nic2=intnet", "--intnet2=lab", "--nic-type2=virtio", "--nic3=bridged",
     "--bridge-adapter3=eth0", "--uart1", "0x3F8", "4", "--uart-mode1", "server", "COM1",
     "--usb-xhci=on", "--mouse=usbtablet", "--boot1=dvd", "--boot2=disk", "--boot3=none"],
    ["storagectl", "ubuntu", "--name", "SATA", "--add=sata", "--portcount=2"],
    ["storageattach", "ubuntu", "--storagectl=SATA", "--port=1", "--device=0",
     "--type=dvddrive", "--medium=emptydrive"],
]


def _keys(text: str) -> list[str]:
    info = parse_machine_readable(split_driver_warning(text)[0])
    return [key for key, _ in info.items]


def test_the_stand_in_prints_showvminfo_as_the_real_72_does(tmp_path):
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox

    fake = FakeVBox(tmp_path / "vbox", "7.2")
    runner = fake.runner()
    runner.run(["createvm", "--name=ubuntu", "--ostype=Ubuntu_64", "--register"])
    shown = runner.run(["showvminfo", "ubuntu", "--machinereadable"]).stdout
    assert _keys(shown) == _keys(real("showvminfo_ubuntu_made_by_virtualbox.txt"))
    real_info = parse_machine_readable(
        split_driver_warning(real("showvminfo_ubuntu_made_by_virtualbox.txt"))[0])
    fake_info = parse_machine_readable(shown)
    for key in ("ostype", "memory", "nic1", "nictype1", "firmware", "cpus", "vram",
                "graphicscontroller", "boot1", "boot2", "boot3", "audio", "hidpointing"):
        assert fake_info.get(key) == real_info.get(key), key
    for argv in FAKE_SESSION:
        runner.run(argv)
    configured = runner.run(["showvminfo", "ubuntu", "--machinereadable"]).stdout
    assert _keys(configured) == _keys(real("showvminfo_ubuntu_configured.txt"))
    real_configured = parse_machine_readable(
        split_driver_warning(real("showvminfo_ubuntu_configured.txt"))[0])
    for key in ("uart1", "Forwarding(0)", "nic2", "intnet2", "nictype2", "nic3",
                "bridgeadapter3", "xhci", "hidpointing", "description", "SATA-1-0",
                "storagecontrollerportcount0", "storagecontrollermaxportcount0"):
        assert parse_machine_readable(configured).get(key) == real_configured.get(key), key


def test_the_stand_ins_os_type_list_is_the_real_one(tmp_path):
    from desktopvm.testing.doubles.virtualbox.double import FakeVBox

    listed = FakeVBox(tmp_path / "vbox", "7.2").runner().run(["list", "ostypes"]).stdout
    assert listed == split_driver_warning(real("list_ostypes.txt"))[0]


def test_every_catalog_os_exists_in_72_and_a_machine_of_its_type_reads_back_as_that_os():
    from backends.virtualbox.translate import catalog_os

    types, entries = os_types(), catalog()
    for entry in entries.entries:
        for key in ("virtualbox", "virtualbox_fallback"):
            assert entry.backend_ids.get(key, "Other") in types.descriptions, (entry.id, key)
        vbox_type = entry.backend_ids["virtualbox"]
        read = entries.get(catalog_os(vbox_type, entries, types.descriptions[vbox_type]))
        assert read is not None and read.family == entry.family, entry.id
        assert vbox_type in (read.backend_ids.get("virtualbox"),
                             read.backend_ids.get("virtualbox_fallback")), entry.id
