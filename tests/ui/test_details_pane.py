"""The details pane points at the hypervisor's own log of a machine, when there is one."""

from __future__ import annotations

from desktopvm.model import MachineSpec
from desktopvm.protocol import MachineInfo, MachineSummary, PowerState
from desktopvm.ui.details_pane import DetailsPane


def info(log: str) -> MachineInfo:
    summary = MachineSummary("qemu", "m1", "web", PowerState.ABORTED)
    return MachineInfo(summary, MachineSpec(id="m1", name="web"), log=log)


def test_the_state_line_names_the_log_and_forgets_it_with_the_machine(qtbot):
    pane = DetailsPane()
    qtbot.addWidget(pane)
    pane.show_machine(info("/vms/m1/qemu.log"))
    assert "/vms/m1/qemu.log" in pane.state.toolTip()
    pane.show_machine(info(""))
    assert pane.state.toolTip() == ""
    pane.show_machine(info("/vms/m1/qemu.log"))
    pane.show_nothing()
    assert pane.state.toolTip() == ""


def test_the_hardware_reads_in_words_with_one_memory_format(qtbot):
    from desktopvm.model import (
        ControllerKind,
        Disk,
        DiskFormat,
        MemorySpec,
        NetworkAdapter,
        NetworkAttachment,
        NicModel,
        OpticalDrive,
        StorageController,
    )
    from desktopvm.ui.hardware_words import hardware_rows

    spec = MachineSpec(
        id="m1", name="web", os="debian12", memory=MemorySpec(size_mib=4096),
        storage=(StorageController(kind=ControllerKind.VIRTIO, disks=(Disk(
            path="/vms/web/disk0.qcow2", format=DiskFormat.QCOW2, size_bytes=64 * 1024**3),)),
                 StorageController(kind=ControllerKind.SATA, optical=(OpticalDrive(),))),
        network=(NetworkAdapter(attachment=NetworkAttachment.NAT, model=NicModel.VIRTIO,
                                mac="52:54:00:12:34:56"),))
    rows = {row.label: row for row in hardware_rows(spec)}
    assert rows["Memory"].value == "4 GiB"
    assert rows["Network"].value == "NAT, VirtIO network"
    assert rows["Network"].tooltip == "MAC address 52:54:00:12:34:56"
    assert rows["Disk"].value == "64 GiB disk on VirtIO (qcow2), disk0.qcow2"
    assert rows["Disk"].tooltip == "/vms/web/disk0.qcow2"  # the whole path, to find the file
    assert rows["Optical drive"].value == "empty, on SATA"
    assert rows["Display"].value == "16 MiB video memory"
    pane = DetailsPane()
    qtbot.addWidget(pane)
    pane.show()
    machine = MachineInfo(MachineSummary("qemu", "m1", "web", PowerState.OFF), spec)
    pane.show_machine(machine, "QEMU on this computer")
    assert not pane.preview.isVisible()  # an off machine has no screen: no empty box
    assert pane.state.text() == "Powered off · QEMU on this computer"
    pane.show_machine(MachineInfo(MachineSummary("qemu", "m1", "web", PowerState.RUNNING),
                                  spec), "QEMU on this computer")
    assert pane.preview.isVisible()
