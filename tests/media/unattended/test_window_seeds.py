"""The main window takes a seed disc out after the first boot: its Start notes the first boot
(seeds.start in the start job), its refresh sees the machine off and takes the seed out."""

from __future__ import annotations

from pathlib import Path

from desktopvm import seeds
from desktopvm.media.unattended import Answers, plan_seed
from desktopvm.model import catalog, defaults_for
from desktopvm.protocol import CancelToken, PowerState, no_progress
from tests.ui.conftest import runner  # noqa: F401 - fixture
from tests.ui.test_preferences_apply import window  # noqa: F401 - fixture


def test_start_then_refresh_take_the_seed_out(qtbot, window, tmp_path: Path):  # noqa: F811
    settings, memory = window.registry.settings, window.registry.open("memory")
    entry = catalog().get("ubuntu24.04")
    assert entry is not None
    spec = defaults_for("ubuntu24.04", memory.capabilities(), name="auto")
    plan = plan_seed(entry, Answers(user="ann", password="pw"), uefi=True,
                     backend_kind="memory", instance_id="i")
    machine_id = seeds.create_with_seed(settings, memory, spec, plan, progress=no_progress,
                                        cancel=CancelToken())
    [record] = seeds.records(settings, "memory")
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window._refreshing is None and window.model.machine_count() == 1,
                    timeout=5000)
    window.select(("localhost", "memory", machine_id))
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: memory.get_machine(machine_id).state is PowerState.RUNNING,
                    timeout=5000)
    qtbot.waitUntil(lambda: seeds.records(settings, "memory")[0].seen_running, timeout=5000)
    memory.power_off(machine_id)  # the installer's last step
    assert Path(record.seed).exists()
    window.refresh()
    qtbot.waitUntil(lambda: not Path(record.seed).exists(), timeout=5000)
    assert record.seed not in [d.iso for _, d in memory.get_machine(machine_id).spec
                               .all_optical()]


def test_the_windows_start_itself_notes_the_first_boot(qtbot, window, monkeypatch,  # noqa: F811
                                                       tmp_path: Path):
    """With the refresh's look switched off, only Start can have noted the first boot."""
    settings, memory = window.registry.settings, window.registry.open("memory")
    entry = catalog().get("fedora")
    assert entry is not None
    plan = plan_seed(entry, Answers(user="ann", password="pw"), uefi=True,
                     backend_kind="memory", instance_id="i")
    machine_id = seeds.create_with_seed(
        settings, memory, defaults_for("fedora", memory.capabilities(), name="ks"), plan,
        progress=no_progress, cancel=CancelToken())
    window.refresh(with_facts=True)
    qtbot.waitUntil(lambda: window._refreshing is None and window.model.machine_count() == 1,
                    timeout=5000)
    monkeypatch.setattr(seeds, "observe", lambda *args: [])
    window.select(("localhost", "memory", machine_id))
    window.machine_actions["start"].trigger()
    qtbot.waitUntil(lambda: memory.get_machine(machine_id).state is PowerState.RUNNING,
                    timeout=5000)
    qtbot.waitUntil(lambda: seeds.records(settings, "memory")[0].seen_running, timeout=5000)
