"""A console window: the machine's screen (polled screenshots), typing, special keys."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktopvm.jobs import Job, JobRunner
from desktopvm.protocol import MachineSummary
from desktopvm.registry import Registry
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.icons import icon

FAST_MS, SLOW_MS = 250, 2000  # poll fast while the picture changes, slowly while it is still


class ScreenshotConsole(QMainWindow):
    """Shows a machine's screen by polling screenshots at an adaptive rate (a preview)."""

    def __init__(self, registry: Registry, runner: JobRunner, machine: MachineSummary,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("console-window")
        self.registry, self.runner, self.machine = registry, runner, machine
        self.setWindowTitle(self.tr("%1 — Console").replace("%1", machine.name))
        self.setWindowIcon(icon("console"))
        self.screen_label = QLabel(self.tr("Connecting…"))
        self.screen_label.setObjectName("console-screen")
        self.screen_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.screen_label.setMinimumSize(640, 400)
        self.screen_label.setStyleSheet("background: black; color: #9ca3af;")
        self.text = QLineEdit()
        self.text.setObjectName("console-text")
        self.text.setPlaceholderText(self.tr("Text to type into the guest (Enter sends)"))
        self.text.returnPressed.connect(self._type)
        send = QPushButton(self.tr("Type"))
        send.clicked.connect(self._type)
        row = QHBoxLayout()
        row.addWidget(self.text, 1)
        row.addWidget(send)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.screen_label, 1)
        layout.addLayout(row)
        self.setCentralWidget(body)
        toolbar = QToolBar()
        toolbar.addAction(self.tr("Ctrl+Alt+Del"), lambda: self._keys(["ctrl-alt-delete"]))
        toolbar.addAction(self.tr("Type clipboard"), self._type_clipboard)
        self.addToolBar(toolbar)
        self.statusBar().showMessage(self.tr("Preview: the screen is refreshed by screenshots"))
        self._last = b""
        self._job: Job | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(FAST_MS)
        self.timer.timeout.connect(self._poll)
        self.timer.start()
        self.resize(840, 560)

    def _backend_call(self, title: str, call: object, background: bool = False) -> Job:
        registry, name = self.registry, self.machine.backend
        job = self.runner.submit(title, lambda p, c: call(registry.open(name)),  # type: ignore[operator]
                                 background=background)
        return job

    def _poll(self) -> None:
        if self._job is not None or not self.isVisible():
            return
        machine_id = self.machine.id
        self._job = self._backend_call(self.tr("Screen"), lambda b: b.screenshot(machine_id),
                                       background=True)
        self._job.succeeded.connect(self._show)
        self._job.failed.connect(lambda error: self.statusBar().showMessage(str(error)))
        self._job.finished.connect(lambda: setattr(self, "_job", None))

    def _show(self, png: bytes) -> None:
        changed = png != self._last
        self._last = png
        self.timer.setInterval(FAST_MS if changed else min(SLOW_MS, self.timer.interval() * 2))
        if changed:
            pixmap = QPixmap()
            if pixmap.loadFromData(png, "PNG"):
                self.screen_label.setPixmap(pixmap.scaled(
                    self.screen_label.size(), Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation))

    def _type(self) -> None:
        text = self.text.text() + "\n"
        self.text.clear()
        machine_id = self.machine.id
        job = self._backend_call(self.tr("Type into %1").replace("%1", self.machine.name),
                                 lambda b: b.type_text(machine_id, text))
        job.failed.connect(lambda error: show_error(self, self.tr("Typing"), error))

    def _type_clipboard(self) -> None:
        text = QApplication.clipboard().text()
        if text:
            machine_id = self.machine.id
            job = self._backend_call(self.tr("Type clipboard"),
                                     lambda b: b.type_text(machine_id, text))
            job.failed.connect(lambda error: show_error(self, self.tr("Typing"), error))

    def _keys(self, combos: list[str]) -> None:
        machine_id = self.machine.id
        job = self._backend_call(self.tr("Send keys"), lambda b: b.send_keys(machine_id, combos))
        job.failed.connect(lambda error: show_error(self, self.tr("Keys"), error))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        super().closeEvent(event)


def open_console(window: object, machine: MachineSummary) -> ScreenshotConsole:
    """Open (or raise) the console of `machine` for the main window."""
    consoles: dict[tuple[str, str, str], ScreenshotConsole] = window.__dict__.setdefault(
        "_consoles", {})
    console = consoles.get(machine.key)
    if console is None:
        console = ScreenshotConsole(window.registry, window.runner, machine)  # type: ignore[attr-defined]
        consoles[machine.key] = console
        console.destroyed.connect(lambda: consoles.pop(machine.key, None))
        console.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    console.show()
    console.raise_()
    return console
