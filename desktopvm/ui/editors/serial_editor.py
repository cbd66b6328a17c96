"""`SerialEditor`: serial ports COM1–COM4, each with where its host side goes."""

from __future__ import annotations

from pathlib import PureWindowsPath

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopvm.model import Capabilities, MachineSpec, Problem, SerialMode, SerialPort, Severity
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors.base import FieldScope, SpecEditor
from desktopvm.ui.editors.labels import (
    SERIAL_MODE_ORDER,
    ordered,
    serial_mode_hint,
    serial_mode_name,
    serial_mode_short_name,
)
from desktopvm.ui.editors.widgets import caption, chosen_enum

COM_NUMBERS = (1, 2, 3, 4)
PIPE_PREFIX = "\\\\.\\pipe\\"
# Modes whose path the user types; a socket's place is the backend's to choose.
PATH_MODES = (SerialMode.PIPE, SerialMode.FILE, SerialMode.TCP)


def path_problem(port: SerialPort) -> str:
    """Why a port's path cannot work for its mode ('' when it can)."""
    path = port.path
    if port.mode is SerialMode.FILE:
        if not path:
            return f"Choose the file COM{port.number} writes to."
        if not (path.startswith("/") or PureWindowsPath(path).is_absolute()):
            return f"Give the full path of the file COM{port.number} writes to, not {path}."
    elif port.mode is SerialMode.TCP:
        if not path.isdigit() or not 1 <= int(path) <= 65535:
            given = f", not {path}" if path else ""
            return f"COM{port.number} needs a TCP port number from 1 to 65535{given}."
    elif port.mode is SerialMode.PIPE and path and not path.lower().startswith(PIPE_PREFIX):
        return f"A named pipe is written {PIPE_PREFIX}NAME, not {path}."
    return ""


class SerialEditor(SpecEditor):
    """A list of the machine's serial ports with Add and Remove, and the selected port's
    number, mode and path; modes and the number of ports come from the capabilities."""

    scope = FieldScope(("serial",))

    def __init__(self, capabilities: Capabilities, host_info: HostInfo | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(capabilities, host_info, parent)
        self._ports: list[SerialPort] = []
        self.ports = QListWidget()
        self.ports.setObjectName("serial-ports")
        self.ports.setAccessibleName(self.tr("Serial ports"))
        self.ports.setMaximumWidth(220)
        self.add_button = QPushButton(self.tr("Add port"))
        self.add_button.setObjectName("add-serial-port")
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setObjectName("remove-serial-port")
        self.remove_button.setAccessibleName(self.tr("Remove the selected serial port"))
        self.number = QComboBox()
        self.number.setObjectName("serial-number")
        self.number.setAccessibleName(self.tr("Port name"))
        self.mode = QComboBox()
        self.mode.setObjectName("serial-mode")
        self.mode.setAccessibleName(self.tr("Connected to"))
        for mode in ordered(capabilities.serial_modes, SERIAL_MODE_ORDER):
            self.mode.addItem(serial_mode_name(mode), mode)
        self.mode_hint = caption()
        self.mode_hint.setObjectName("serial-mode-hint")
        self.path = QLineEdit()
        self.path.setObjectName("serial-path")
        self.path.setClearButtonEnabled(True)
        self.browse = QPushButton(self.tr("Browse…"))
        self.browse.setObjectName("serial-browse")
        self.browse.setAccessibleName(self.tr("Choose the log file"))
        self.limit_hint = caption(self._limit_text())
        self.limit_hint.setObjectName("serial-limit")
        self._lay_out()
        self.ports.currentRowChanged.connect(self._show_port)
        self.add_button.clicked.connect(self._add)
        self.remove_button.clicked.connect(self._remove)
        self.number.currentIndexChanged.connect(self._port_edited)
        self.mode.currentIndexChanged.connect(self._mode_edited)
        self.path.textEdited.connect(self._port_edited)
        self.browse.clicked.connect(self._browse)

    def _lay_out(self) -> None:
        side = QVBoxLayout()
        side.addWidget(self.ports, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        side.addLayout(buttons)
        self.form = QFormLayout()
        self.form.addRow(self.tr("Port:"), self.number)
        self.form.addRow(self.tr("Connected to:"), self.mode)
        self.form.addRow("", self.mode_hint)
        path_row = self.path_row = QWidget()
        path_layout = QHBoxLayout(path_row)
        path_layout.setContentsMargins(0, 0, 0, 0)
        path_layout.addWidget(self.path, 1)
        path_layout.addWidget(self.browse)
        self.form.addRow(self.tr("Path:"), path_row)
        detail = QVBoxLayout()
        detail.addLayout(self.form)
        detail.addStretch(1)
        row = QHBoxLayout()
        row.addLayout(side)
        row.addLayout(detail, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row, 1)
        layout.addWidget(self.limit_hint)

    def _port_limit(self) -> int:
        """How many ports the backend offers (none without a mode to connect them to)."""
        caps = self.capabilities
        return min(caps.max_serial_ports, len(COM_NUMBERS)) if caps.serial_modes else 0

    def _limit_text(self) -> str:
        caps = self.capabilities
        if self._port_limit() <= 0:
            return self.tr("%s offers no serial ports here.") % caps.backend
        modes = ", ".join(serial_mode_name(m).lower()
                          for m in ordered(caps.serial_modes, SERIAL_MODE_ORDER))
        count = self._port_limit()
        if count == 1:
            return self.tr("%s offers one serial port, connected to: %s.") % (caps.backend, modes)
        return self.tr("%s offers up to %d serial ports, connected to: %s.") % (
            caps.backend, count, modes)

    # -- the list ---------------------------------------------------------------------------
    def _label(self, port: SerialPort) -> str:
        return self.tr("COM%d: %s") % (port.number, serial_mode_short_name(port.mode))

    def _fill_list(self, select: int) -> None:
        self.ports.blockSignals(True)
        self.ports.clear()
        for port in self._ports:
            self.ports.addItem(self._label(port))
        self.ports.blockSignals(False)
        if self._ports:
            self.ports.setCurrentRow(max(0, min(select, len(self._ports) - 1)))
        self._show_port()

    def selected(self) -> int:
        """Index of the selected port in the list (-1: none)."""
        row = self.ports.currentRow()
        return row if 0 <= row < len(self._ports) else -1

    def _show_port(self) -> None:
        index = self.selected()
        port = self._ports[index] if index >= 0 else None
        for widget in (self.number, self.mode, self.path):
            widget.blockSignals(True)
        self.number.clear()
        if port is not None:
            taken = {p.number for i, p in enumerate(self._ports) if i != index}
            for number in COM_NUMBERS:
                if number not in taken or number == port.number:
                    # Named as both kinds of guest name it.
                    self.number.addItem(self.tr("COM%d (ttyS%d in Linux)") % (number, number - 1),
                                        number)
            self.number.setCurrentIndex(self.number.findData(port.number))
            if self.mode.findData(port.mode) < 0:  # kept visible: loading changes nothing
                self.mode.addItem(serial_mode_name(port.mode), port.mode)
            self.mode.setCurrentIndex(self.mode.findData(port.mode))
            self.path.setText(port.path)
        else:
            self.path.clear()
        for widget in (self.number, self.mode, self.path):
            widget.blockSignals(False)
        self._refresh()

    def _add(self) -> None:
        used = {p.number for p in self._ports}
        number = next((n for n in COM_NUMBERS if n not in used), None)
        if number is None:
            return
        modes = ordered(self.capabilities.serial_modes, SERIAL_MODE_ORDER)
        mode = modes[0] if modes else SerialMode.DISCONNECTED
        self._ports.append(SerialPort(number=number, mode=mode))
        self._ports.sort(key=lambda p: p.number)
        self._fill_list(next(i for i, p in enumerate(self._ports) if p.number == number))
        self._user_changed()

    def _remove(self) -> None:
        index = self.selected()
        if index < 0:
            return
        del self._ports[index]
        self._fill_list(index)
        self._user_changed()

    def _mode_edited(self) -> None:
        index = self.selected()
        if index >= 0:
            # A path belongs to its mode: a file name is no TCP port.
            self.path.clear()
        self._port_edited()

    def _port_edited(self) -> None:
        index = self.selected()
        if index < 0 or self._loading:
            return
        number = self.number.currentData()
        mode = chosen_enum(self.mode, SerialMode) or SerialMode.DISCONNECTED
        old = self._ports[index]
        if mode in PATH_MODES:
            path = self.path.text().strip()
        else:  # a socket's path, if a backend recorded one, stays while the mode does
            path = old.path if mode is old.mode else ""
        self._ports[index] = SerialPort(number=int(number), mode=mode, path=path)
        item = self.ports.item(index)
        if item is not None:
            item.setText(self._label(self._ports[index]))
        self._user_changed()

    def _browse(self) -> None:
        # The port appends to the file: choosing one that exists is no overwrite.
        chosen, _ = QFileDialog.getSaveFileName(
            self, self.tr("Log file for the serial port"), self.path.text(),
            self.tr("Log files (*.log *.txt);;All files (*)"),
            options=QFileDialog.Option.DontConfirmOverwrite)
        if chosen:
            self.path.setText(chosen)
            self._port_edited()

    # -- the editor -------------------------------------------------------------------------
    def _load(self, spec: MachineSpec) -> None:
        self._ports = sorted(spec.serial, key=lambda p: p.number)
        self._fill_list(0)

    def _refresh(self) -> None:
        caps = self.capabilities
        limit = self._port_limit()
        full = len(self._ports) >= limit
        self.offer(self.add_button, not full,
                   self.tr("%s offers no serial ports here.") % caps.backend if limit <= 0
                   else self.tr("%s offers one serial port.") % caps.backend if limit == 1
                   else self.tr("%s offers at most %d serial ports.") % (caps.backend, limit))
        selected = self.selected() >= 0
        self.offer(self.remove_button, selected, self.tr("Select a port to remove."))
        self.offer(self.number, selected, "")
        self.offer(self.mode, selected, "")
        mode = chosen_enum(self.mode, SerialMode) if selected else None
        self.mode_hint.setText(serial_mode_hint(mode) if mode else "")
        self.form.setRowVisible(self.path_row, mode in PATH_MODES)
        self.offer(self.path, mode in PATH_MODES, "")
        self.browse.setVisible(mode is SerialMode.FILE)
        self.offer(self.browse, mode is SerialMode.FILE, "")
        placeholder = {
            SerialMode.FILE: self.tr("Full path of the log file"),
            SerialMode.TCP: self.tr("Port number, e.g. 4555"),
            SerialMode.PIPE: self.tr("Empty: named after the machine"),
        }
        self.path.setPlaceholderText(placeholder.get(mode, "") if mode else "")
        self.path.setAccessibleName(self.tr("Path or port of the selected serial port"))

    def own_problems(self) -> list[Problem]:
        """What each port's mode needs of its path, said at the port.

        Only once the user edits the ports: a backend may fill in what a loaded spec leaves
        empty (VirtualBox names a log file itself), and untouched parts never block OK.
        """
        if not self.touched:
            return []
        return [Problem(field=f"serial[{i}].path", severity=Severity.ERROR, message=message)
                for i, port in enumerate(self._ports) if (message := path_problem(port))]

    def _apply(self, spec: MachineSpec) -> MachineSpec:
        return spec.model_copy(update={"serial": tuple(self._ports)})
