"""Open native viewer is offered only for a tab whose hypervisor has a viewer of its own; for
QEMU (this window is its console) it is greyed and its tooltip says why."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from desktopvm.jobs import JobRunner
from desktopvm.protocol import ConsoleEndpoints, MachineSummary, PowerState
from desktopvm.ui.console import ConsoleWindow


@pytest.fixture
def runner(qtbot):
    jobs = JobRunner(max_threads=1)
    yield jobs
    jobs.cancel_all()
    assert jobs.wait_for_done(10_000)


def test_native_viewer_follows_the_current_tab(qtbot, runner):
    owner = SimpleNamespace(registry=SimpleNamespace(open=lambda _name: None), runner=runner,
                            facts={"qemu": SimpleNamespace(display_name="QEMU")})
    window = ConsoleWindow(owner)
    qtbot.addWidget(window)
    action = window.native_action
    assert not action.isEnabled()  # no tab yet
    qemu = MachineSummary("qemu", "q1", "web", PowerState.RUNNING)
    (qemu_page,) = window.add_pages(qemu, ConsoleEndpoints())  # QEMU names no viewer
    assert not action.isEnabled()
    assert action.toolTip() == "QEMU has no viewer of its own: this window is the machine's " \
                               "console"
    vbox = MachineSummary("virtualbox", "v1", "db", PowerState.RUNNING)
    (vbox_page,) = window.add_pages(vbox, ConsoleEndpoints(
        native_viewer=("VirtualBoxVM", "--startvm", "v1", "--separate")))
    assert window.page() is vbox_page and action.isEnabled()
    assert "own viewer" in action.toolTip()
    window.tabs.setCurrentWidget(qemu_page)
    assert not action.isEnabled()
    assert action.toolTip().startswith("QEMU has no viewer")
    other = MachineSummary("unknown", "u1", "x", PowerState.RUNNING)  # no facts: said plainly
    window.add_pages(other, ConsoleEndpoints())
    assert action.toolTip().startswith("This hypervisor has no viewer")
    window.close()
