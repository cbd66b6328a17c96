"""The boot order editor: ticks and order round trip, keyboard moves, limits, locks."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktopvm.model import BootDevice, defaults_for, validate
from desktopvm.protocol import PowerState
from desktopvm.testing.doubles.memory_backend import CAPABILITIES
from desktopvm.ui.editors import BootOrderEditor
from tests.ui.test_settings_dialog import iso, ok_button, open_settings  # noqa: F401 (fixtures)

DISK, DVD, NET = BootDevice.DISK, BootDevice.OPTICAL, BootDevice.NETWORK


def editor_for(qtbot, caps=CAPABILITIES, order=(DISK, DVD), state=PowerState.OFF):
    spec = defaults_for("debian12", caps, name="boot").model_copy(update={"boot_order": order})
    editor = BootOrderEditor(caps, None)
    qtbot.addWidget(editor)
    editor.set_spec(spec)
    editor.set_state(state)
    return editor, spec


def rows(editor: BootOrderEditor) -> list[tuple[str, bool]]:
    items = [editor.devices.item(r) for r in range(editor.devices.count())]
    return [(i.text(), i.checkState() == Qt.CheckState.Checked) for i in items]


def test_the_order_shows_ticked_devices_first_then_the_rest(qtbot):
    editor, spec = editor_for(qtbot)
    assert rows(editor) == [("Hard disk", True), ("Optical drive (DVD/CD)", True),
                            ("Network (PXE)", False)]
    assert editor.order() == (DISK, DVD)
    assert editor.apply(spec) is spec


def test_buttons_move_and_ticks_choose(qtbot):
    editor, spec = editor_for(qtbot)
    editor.devices.setCurrentRow(1)
    editor.up_button.click()
    assert editor.devices.currentRow() == 0  # the moved device stays selected
    editor.devices.item(2).setCheckState(Qt.CheckState.Checked)
    assert editor.apply(spec).boot_order == (DVD, DISK, NET)
    editor.devices.setCurrentRow(0)
    editor.down_button.click()
    editor.devices.item(2).setCheckState(Qt.CheckState.Unchecked)
    assert editor.apply(spec).boot_order == (DISK, DVD)


def test_the_keyboard_moves_and_ticks(qtbot):
    editor, spec = editor_for(qtbot)
    editor.devices.setFocus()
    editor.devices.setCurrentRow(2)
    qtbot.keyClick(editor.devices, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(editor.devices, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert editor.devices.currentRow() == 0
    qtbot.keyClick(editor.devices, Qt.Key.Key_Space)
    assert editor.apply(spec).boot_order == (NET, DISK, DVD)
    assert not editor.up_button.isEnabled()  # already first
    assert editor.up_button.toolTip() == "The selected device is already first."


def test_nothing_to_boot_from_is_refused_inline(qtbot):
    editor, _ = editor_for(qtbot)
    for row in range(editor.devices.count()):
        editor.devices.item(row).setCheckState(Qt.CheckState.Unchecked)
    [problem] = editor.own_problems()
    assert (problem.field, problem.message) == ("boot_order",
                                                "Tick at least one device to boot from.")


def test_only_the_backends_devices_are_offered(qtbot):
    caps = CAPABILITIES.model_copy(update={"boot_devices": frozenset({DISK, DVD})})
    editor, _ = editor_for(qtbot, caps=caps)
    assert [text for text, _ in rows(editor)] == ["Hard disk", "Optical drive (DVD/CD)"]


def test_a_loaded_device_the_backend_cannot_boot_stays_and_is_named(qtbot):
    caps = CAPABILITIES.model_copy(update={"boot_devices": frozenset({DISK, DVD})})
    editor, spec = editor_for(qtbot, caps=caps, order=(NET, DISK))
    assert rows(editor)[0] == ("Network (PXE)", True)
    assert editor.devices.item(0).toolTip() == "Memory cannot boot from this device."
    assert editor.apply(spec) is spec
    assert [p.message for p in validate(spec, caps) if p.field == "boot_order"] == [
        "Memory cannot boot from network."]


def test_a_running_machine_locks_the_order(qtbot):
    editor, _ = editor_for(qtbot, state=PowerState.RUNNING)
    assert not editor.devices.isEnabled() and not editor.down_button.isEnabled()
    editor.move_selected(1)  # a shortcut that slipped through changes nothing
    assert editor.order() == (DISK, DVD) and not editor.touched
    assert "Shut down the machine" in editor.devices.toolTip()


def test_the_system_tab_sends_the_boot_order(open_settings, qtbot):  # noqa: F811
    dialog, backend = open_settings()
    dialog.boot_order.devices.setCurrentRow(1)
    dialog.boot_order.up_button.click()
    assert dialog.changed_groups() == {"boot_order"}
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.get_machine(dialog.info.summary.id).spec.boot_order == (DVD, DISK)
