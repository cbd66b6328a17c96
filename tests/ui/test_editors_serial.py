"""The serial editor: ports added, changed and removed; each mode's path checked inline."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from desktopvm.model import SerialMode, SerialPort, defaults_for, validate
from desktopvm.protocol import PowerState
from desktopvm.testing.doubles.memory_backend import CAPABILITIES
from desktopvm.ui.editors import SerialEditor
from tests.ui.test_settings_dialog import iso, ok_button, open_settings  # noqa: F401 (fixtures)

CAPS = CAPABILITIES.model_copy(update={
    "max_serial_ports": 4,
    "serial_modes": frozenset({SerialMode.SOCKET, SerialMode.FILE, SerialMode.TCP,
                               SerialMode.PIPE, SerialMode.DISCONNECTED})})


def editor_for(qtbot, caps=CAPS, ports=(), state=PowerState.OFF):
    spec = defaults_for("debian12", caps, name="com").model_copy(update={"serial": ports})
    editor = SerialEditor(caps, None)
    qtbot.addWidget(editor)
    editor.set_spec(spec)
    editor.set_state(state)
    return editor, spec


def choose_mode(editor: SerialEditor, mode: SerialMode) -> None:
    editor.mode.setCurrentIndex(editor.mode.findData(mode))


def type_path(qtbot, editor: SerialEditor, text: str) -> None:
    editor.path.clear()
    qtbot.keyClicks(editor.path, text)  # textEdited: as a user types


def test_ports_are_added_changed_and_removed(qtbot, tmp_path):
    editor, spec = editor_for(qtbot)
    assert editor.apply(spec) is spec and editor.ports.count() == 0
    editor.add_button.click()
    editor.add_button.click()
    assert [editor.ports.item(i).text() for i in range(2)] == ["COM1: Console socket",
                                                              "COM2: Console socket"]
    assert not editor.form.isRowVisible(editor.path_row)  # a socket's place is the backend's
    choose_mode(editor, SerialMode.FILE)
    assert editor.form.isRowVisible(editor.path_row)
    log = tmp_path / "com2.log"
    type_path(qtbot, editor, str(log))
    assert editor.apply(spec).serial == (
        SerialPort(number=1, mode=SerialMode.SOCKET),
        SerialPort(number=2, mode=SerialMode.FILE, path=str(log)))
    editor.ports.setCurrentRow(0)
    editor.remove_button.click()
    assert editor.apply(spec).serial == (SerialPort(number=2, mode=SerialMode.FILE,
                                                    path=str(log)),)


def test_browse_chooses_the_log_file_without_an_overwrite_question(qtbot, monkeypatch,
                                                                  tmp_path):
    asked = {}

    def save_file_name(parent, title, start, filters, options):
        asked["options"] = options
        return str(tmp_path / "chosen.log"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_file_name)
    editor, spec = editor_for(qtbot)
    editor.add_button.click()
    assert editor.browse.isHidden()  # only a log file is chosen from the disk
    choose_mode(editor, SerialMode.FILE)
    assert not editor.browse.isHidden()
    editor.browse.click()
    assert asked["options"] == QFileDialog.Option.DontConfirmOverwrite  # the port appends
    assert editor.apply(spec).serial == (SerialPort(number=1, mode=SerialMode.FILE,
                                                    path=str(tmp_path / "chosen.log")),)


def test_a_port_name_taken_by_another_port_is_not_offered(qtbot):
    ports = (SerialPort(number=1), SerialPort(number=3, mode=SerialMode.DISCONNECTED))
    editor, spec = editor_for(qtbot, ports=ports)
    editor.ports.setCurrentRow(1)
    offered = [editor.number.itemData(i) for i in range(editor.number.count())]
    assert offered == [2, 3, 4]
    assert editor.number.currentText() == "COM3 (ttyS2 in Linux)"
    editor.number.setCurrentIndex(editor.number.findData(4))
    assert [p.number for p in editor.apply(spec).serial] == [1, 4]


@pytest.mark.parametrize(("mode", "typed", "message"), [
    (SerialMode.FILE, "", "Choose the file COM1 writes to."),
    (SerialMode.FILE, "logs/com1.log",
     "Give the full path of the file COM1 writes to, not logs/com1.log."),
    (SerialMode.TCP, "", "COM1 needs a TCP port number from 1 to 65535."),
    (SerialMode.TCP, "telnet", "COM1 needs a TCP port number from 1 to 65535, not telnet."),
    (SerialMode.TCP, "70000", "COM1 needs a TCP port number from 1 to 65535, not 70000."),
    (SerialMode.PIPE, "com1", "A named pipe is written \\\\.\\pipe\\NAME, not com1."),
])
def test_a_path_the_mode_cannot_use_is_refused_inline(qtbot, mode, typed, message):
    editor, _ = editor_for(qtbot)
    editor.add_button.click()
    choose_mode(editor, mode)
    type_path(qtbot, editor, typed)
    [problem] = editor.own_problems()
    assert (problem.field, problem.message) == ("serial[0].path", message)


@pytest.mark.parametrize(("mode", "typed"), [
    (SerialMode.FILE, "/var/log/com1.log"), (SerialMode.TCP, "4555"),
    (SerialMode.PIPE, ""), (SerialMode.PIPE, "\\\\.\\pipe\\builder-com1"),
])
def test_a_path_the_mode_can_use_passes(qtbot, mode, typed):
    editor, spec = editor_for(qtbot)
    editor.add_button.click()
    choose_mode(editor, mode)
    type_path(qtbot, editor, typed)
    assert editor.own_problems() == []
    assert editor.apply(spec).serial == (SerialPort(number=1, mode=mode, path=typed),)


def test_changing_the_mode_drops_the_old_path(qtbot):
    editor, spec = editor_for(qtbot, ports=(SerialPort(mode=SerialMode.TCP, path="4555"),))
    assert editor.path.text() == "4555"
    choose_mode(editor, SerialMode.FILE)
    assert editor.path.text() == ""
    choose_mode(editor, SerialMode.DISCONNECTED)
    assert editor.apply(spec).serial == (SerialPort(mode=SerialMode.DISCONNECTED),)


def test_the_number_of_ports_is_the_backends(qtbot):
    editor, _ = editor_for(qtbot, caps=CAPS.model_copy(update={"max_serial_ports": 1}))
    editor.add_button.click()
    assert not editor.add_button.isEnabled()
    assert editor.add_button.toolTip() == "Memory offers one serial port."
    none, _ = editor_for(qtbot, caps=CAPS.model_copy(update={"max_serial_ports": 0}))
    assert not none.add_button.isEnabled()
    assert none.add_button.toolTip() == "Memory offers no serial ports here."
    assert none.limit_hint.text() == "Memory offers no serial ports here."
    modeless, _ = editor_for(qtbot, caps=CAPS.model_copy(update={"serial_modes": frozenset()}))
    assert not modeless.add_button.isEnabled()
    assert modeless.add_button.toolTip() == "Memory offers no serial ports here."


def test_a_loaded_mode_the_backend_lacks_stays_and_is_named(qtbot):
    caps = CAPS.model_copy(update={"serial_modes": frozenset({SerialMode.SOCKET})})
    ports = (SerialPort(mode=SerialMode.PIPE, path="\\\\.\\pipe\\x"),)
    editor, spec = editor_for(qtbot, caps=caps, ports=ports)
    assert editor.mode.currentData() == SerialMode.PIPE
    assert editor.apply(spec) is spec
    assert [p.message for p in validate(spec, caps) if p.field.startswith("serial")] == [
        "Memory cannot connect a serial port to a pipe."]


def test_a_running_machine_locks_the_ports(qtbot):
    editor, _ = editor_for(qtbot, ports=(SerialPort(),), state=PowerState.RUNNING)
    for widget in (editor.add_button, editor.remove_button, editor.mode, editor.number):
        assert not widget.isEnabled()
    assert "Shut down the machine" in editor.mode.toolTip()


def test_an_unusable_path_blocks_ok_in_the_dialog(open_settings, qtbot):  # noqa: F811
    dialog, backend = open_settings(max_serial_ports=4, serial_modes=CAPS.serial_modes)
    [port] = dialog.info.spec.serial
    assert port.mode is SerialMode.SOCKET
    ports_tab = dialog.tabs.indexOf(dialog.serial.parentWidget())
    assert dialog.tabs.tabText(ports_tab) == "Ports"
    choose_mode(dialog.serial, SerialMode.FILE)
    type_path(qtbot, dialog.serial, "com1.log")
    assert not ok_button(dialog).isEnabled()
    assert dialog.tab_problems[ports_tab].texts() == [
        "Give the full path of the file COM1 writes to, not com1.log."]
    assert not dialog.tabs.tabIcon(ports_tab).isNull()
    dialog.serial.remove_button.click()  # the memory double takes sockets only
    assert dialog.changed_groups() == {"serial"} and ok_button(dialog).isEnabled()
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        ok_button(dialog).click()
    assert backend.get_machine(dialog.info.summary.id).spec.serial == ()
