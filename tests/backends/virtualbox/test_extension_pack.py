"""Review V3: VirtualBox 6.1 has USB 2.0/3.0 and NVMe only with the Oracle Extension Pack.

`list extpacks` is read on 6.1 (its format: VBoxManageList.cpp listExtensionPacks); without a
usable Oracle pack the capabilities offer USB 1.1 and no NVMe, so defaults_for picks USB 1.1
and validation refuses the others with the reason. 7.0+ have both in the base package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.virtualbox.capabilities import extension_packs, oracle_pack_usable
from desktopvm.model import (
    ControllerKind,
    StorageController,
    UsbSpec,
    UsbVersion,
    defaults_for,
    validate,
)
from desktopvm.protocol import CommandFailed
from desktopvm.testing.doubles.virtualbox.double import FakeVBox
from desktopvm.testing.doubles.virtualbox.fakevbox.misc import extpacks

ORACLE_61 = {"name": "Oracle VM VirtualBox Extension Pack", "version": "6.1.50r161033",
             "description": "Oracle Cloud Infrastructure integration, USB 2.0 and USB 3.0 Host "
                            "Controller, Host Webcam, VirtualBox RDP, PXE ROM, Disk Encryption, "
                            "NVMe."}


def test_the_list_format_is_read_pack_by_pack():
    text = extpacks({"extpacks": [
        {"name": "Some Other Pack", "version": "1.0r1"},
        {**ORACLE_61, "usable": False, "why": "The installed version does not match"}]})
    packs = extension_packs(text)
    assert [p["Name"] for p in packs] == ["Some Other Pack", ORACLE_61["name"]]
    assert packs[1]["Usable"] == "false" and packs[1]["Version"] == "6.1.50"
    assert oracle_pack_usable(text) is False  # installed but unusable does not count
    assert oracle_pack_usable(extpacks({"extpacks": [ORACLE_61]})) is True
    assert oracle_pack_usable("Extension Packs: 0\n") is False
    renamed = {**ORACLE_61, "name": "Oracle VirtualBox Extension Pack"}  # 7.1's name
    assert oracle_pack_usable(extpacks({"extpacks": [renamed]})) is True
    # A manual's example (Windows line ends, 4.1-era layout) reads the same way.
    manual = ("Extension Packs: 1\r\nPack no. 0:   Oracle VM VirtualBox Extension Pack\r\n"
              "Version:      4.1.12\r\nRevision:     77218\r\nEdition:      \r\n"
              "Description:  USB 2.0 Host Controller, VirtualBox RDP, PXE ROM with E1000 "
              "support.\r\nVRDE Module:  VBoxVRDP\r\nUsable:       true \r\nWhy unusable: \r\n")
    assert oracle_pack_usable(manual) is True


def test_61_without_the_pack_offers_usb_11_and_no_nvme(tmp_path: Path):
    fake = FakeVBox(tmp_path / "vbox", "6.1")
    backend = fake.backend()
    caps = backend.capabilities()
    assert caps.usb_versions == {UsbVersion.USB1}
    assert ControllerKind.NVME not in caps.controller_kinds
    assert "Extension Pack" in caps.usb_versions_reason
    assert ["list", "extpacks"] in fake.calls()

    spec = defaults_for("ubuntu24.04", caps, name="u")
    assert spec.usb.version is UsbVersion.USB1
    assert validate(spec, caps) == []
    problems = validate(spec.model_copy(update={"usb": UsbSpec(version=UsbVersion.USB2)}), caps)
    assert [p.field for p in problems] == ["usb.version"]
    assert "Extension Pack" in problems[0].message
    nvme = spec.model_copy(update={"storage": (
        StorageController(name="NVMe", kind=ControllerKind.NVME, disks=spec.storage[0].disks),
        *spec.storage[1:])})
    assert any(p.field.startswith("storage") for p in validate(nvme, caps))


def test_61_with_a_usable_pack_offers_everything(tmp_path: Path):
    fake = FakeVBox(tmp_path / "vbox", "6.1")
    fake.set(extpacks=[ORACLE_61])
    caps = fake.backend().capabilities()
    assert caps.usb_versions == set(UsbVersion) and caps.usb_versions_reason == ""
    assert ControllerKind.NVME in caps.controller_kinds
    assert defaults_for("ubuntu24.04", caps, name="u").usb.version is UsbVersion.USB2


@pytest.mark.parametrize("version", ["7.0", "7.1", "7.2"])
def test_70_and_later_need_no_pack_and_do_not_ask(tmp_path: Path, version: str):
    fake = FakeVBox(tmp_path / "vbox", version)
    caps = fake.backend().capabilities()
    assert caps.usb_versions == set(UsbVersion)
    assert ControllerKind.NVME in caps.controller_kinds
    assert ["list", "extpacks"] not in fake.calls()


def test_the_stand_in_refuses_to_start_usb_2_on_61_without_the_pack(tmp_path: Path):
    """The rule the capabilities avoid, as VirtualBox 6.1 applies it at power-on."""
    fake = FakeVBox(tmp_path / "vbox", "6.1")
    vbox = fake.runner()
    vbox.run(["createvm", "--name", "u", "--register"])
    vbox.run(["modifyvm", "u", "--usbohci", "on", "--usbehci", "on"])
    with pytest.raises(CommandFailed) as failure:
        vbox.run(["startvm", "u", "--type", "headless"])
    assert "USB 2.0 controller not found" in str(failure.value.details)
    fake.set(extpacks=[ORACLE_61])
    vbox.run(["startvm", "u", "--type", "headless"])
    assert next(iter(fake.state()["vms"].values()))["state"] == "running"
