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
