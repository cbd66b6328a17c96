"""The console window: tabs of displays, serial consoles and previews, toolbar, status line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMenu,
    QTabWidget,
    QToolButton,
    QWidget,
)

from desktopvm.protocol import ConsoleEndpoints, MachineSummary, UnsupportedOperation
from desktopvm.protocol.keys import COMMON_COMBOS, combo_allowed
from desktopvm.ui.console.display_page import ConsolePage, DisplayPage
from desktopvm.ui.console.serial_log import release, serial_log_for
from desktopvm.ui.console.text_pages import PreviewPage, SerialPage
from desktopvm.ui.console.vnc_view import Scaling
from desktopvm.ui.error_dialog import show_error
from desktopvm.ui.icons import icon
from desktopvm.ui.viewer import start_viewer

if TYPE_CHECKING:
    from desktopvm.jobs import Job

SEND_KEYS = COMMON_COMBOS


class ConsoleWindow(QMainWindow):
    """Console tabs for one or more machines; tabs can be torn off into their own window."""

    def __init__(self, owner: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("console-window")
        self.owner = owner  # the main window: .registry, .runner
        self.setWindowTitle(self.tr("Consoles"))
        self.setWindowIcon(icon("console"))
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(lambda _i: self._update_status())
        self.tabs.tabBarDoubleClicked.connect(self.detach_tab)
        self.setCentralWidget(self.tabs)
        self.machines: dict[ConsolePage, MachineSummary] = {}
        self._build_toolbar()
        self._offer_native_viewer(None)
        self.resize(900, 640)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar(self.tr("Console"))
        bar.setObjectName("console-toolbar")
        group = QActionGroup(self)
        self.scaling_actions: dict[Scaling, QAction] = {}
        for label, scaling in ((self.tr("Fit"), Scaling.FIT), (self.tr("1:1"), Scaling.ONE_TO_ONE),
                               (self.tr("Fit width"), Scaling.FIT_WIDTH)):
            action = QAction(label, self, checkable=True)
            action.setChecked(scaling is Scaling.FIT)
            action.triggered.connect(lambda _c=False, s=scaling: self.set_scaling(s))
            group.addAction(action)
            bar.addAction(action)
            self.scaling_actions[scaling] = action
        bar.addSeparator()
        bar.addAction(self.tr("Full screen"), self.toggle_full_screen)
        menu = self.send_menu = QMenu(self)
        menu.aboutToShow.connect(self._fill_send_menu)
        send = QToolButton()
        send.setText(self.tr("Send key"))
        send.setObjectName("send-key")
        send.setMenu(menu)
        send.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        bar.addWidget(send)
        bar.addAction(self.tr("Type clipboard"), self.type_clipboard)
        bar.addAction(self.tr("Screenshot…"), self.save_screenshot)
        self.native_action = bar.addAction(self.tr("Open native viewer"),
                                           self.open_native_viewer)
        self.native_action.setObjectName("open-native-viewer")
        bar.addAction(self.tr("Detach tab"), lambda: self.detach_tab(self.tabs.currentIndex()))

    # -- tabs ----------------------------------------------------------------------------------
    def add_pages(self, machine: MachineSummary, endpoints: ConsoleEndpoints,
                  capabilities: Any = None) -> list[ConsolePage]:
        """Open the tabs a machine offers: display (or preview) and serial."""
        pages: list[ConsolePage] = []
        if endpoints.vnc is not None:
            pages.append(DisplayPage(endpoints.vnc))
        elif capabilities is None or getattr(capabilities, "screenshot", True):
            preview = PreviewPage(partial(self._screenshot_job, machine))
            # Its keys go through the backend: offer only those the backend can send.
            keys = getattr(capabilities, "keys", None)
            preview.setProperty("sendable_keys", sorted(keys) if keys is not None else None)
            pages.append(preview)
        if endpoints.serial is not None:
            # the machine's log outlives this tab: reopened, it shows what the guest printed
            log = serial_log_for(self.owner, machine, endpoints.serial)
            pages.append(SerialPage(endpoints.serial, log=log,
                                    release=partial(release, self.owner)))
        for page in pages:
            self.adopt(page, machine, endpoints)
        if pages:
            self.tabs.setCurrentWidget(pages[0])  # the screen first, not the serial tab
        return pages

    def adopt(self, page: ConsolePage, machine: MachineSummary,
              endpoints: ConsoleEndpoints | None = None) -> None:
        """Show a page as a tab of this window."""
        page.setProperty("native_viewer", list(endpoints.native_viewer) if endpoints else
                         page.property("native_viewer"))
        self.machines[page] = machine
        label = {"display": self.tr("Display"), "serial": self.tr("Serial"),
                 "preview": self.tr("Preview")}.get(page.kind, page.kind)
        index = self.tabs.addTab(page, f"{machine.name} — {label}")
        self.tabs.setCurrentIndex(index)
        # a bound method: Qt drops the connection with this window; detach drops it too
        page.status_changed.connect(self._page_status)
        self._update_status()

    def _page_status(self, _text: str) -> None:
        page = self.sender()
        if isinstance(page, ConsolePage):
            self._update_status(page)

    def page(self) -> ConsolePage | None:
        """The current tab's page."""
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, ConsolePage) else None

    def close_tab(self, index: int) -> None:
        """Close a tab and its connection."""
        page = self.tabs.widget(index)
        if isinstance(page, ConsolePage):
            page.close_page()
            self.machines.pop(page, None)
        self.tabs.removeTab(index)
        if page is not None:
            page.deleteLater()
        if not self.tabs.count():
            self.close()

    def detach_tab(self, index: int) -> ConsoleWindow | None:
        """Move a tab into a window of its own."""
        page = self.tabs.widget(index)
        if not isinstance(page, ConsolePage) or self.tabs.count() < 2:
            return None
        machine = self.machines.pop(page)
        self.tabs.removeTab(index)
        page.status_changed.disconnect(self._page_status)
        window = ConsoleWindow(self.owner)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.adopt(page, machine)
        register(self.owner, window)
        window.show()
        return window

    def set_scaling(self, scaling: Scaling) -> None:
        """Change how the current tab's screen fits."""
        page = self.page()
        if page is not None:
            page.set_scaling(scaling)
        self.scaling_actions[scaling].setChecked(True)

    def _update_status(self, page: ConsolePage | None = None) -> None:
        current = self.page()
        if current is not None and (page is None or page is current):
            self.statusBar().showMessage(current.status())
            scaling = current.scaling()
            for mode, action in self.scaling_actions.items():
                action.setEnabled(scaling is not None)  # only pictures scale
                action.setChecked(mode is scaling)
            machine = self.machines.get(current)
            if machine is not None:
                self.setWindowTitle(self.tr("%1 — Console").replace("%1", machine.name))
        self._offer_native_viewer(current)

    def _offer_native_viewer(self, page: ConsolePage | None) -> None:
        """Greyed, with the reason as its tooltip, where the hypervisor has no viewer of its own
        (QEMU: this window is its console), as other unavailable actions are."""
        has_viewer = page is not None and bool(page.property("native_viewer"))
        self.native_action.setEnabled(has_viewer)
        if has_viewer or page is None:
            self.native_action.setToolTip(self.tr("Open the hypervisor's own viewer"))
            return
        machine = self.machines.get(page)
        facts = getattr(self.owner, "facts", {}).get(machine.backend) if machine else None
        name = getattr(facts, "display_name", "") or self.tr("This hypervisor")
        self.native_action.setToolTip(self.tr("%1 has no viewer of its own: this window is the "
                                              "machine's console").replace("%1", name))

    # -- toolbar actions -----------------------------------------------------------------------
    def toggle_full_screen(self) -> None:
        """Full screen on and off."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _backend_job(self, machine: MachineSummary, title: str, call: Any) -> Any:
        registry = self.owner.registry
        return self.owner.runner.submit(title, lambda _p, _c: call(registry.open(machine.backend)),
                                        background=True)

    def _screenshot_job(self, machine: MachineSummary, done: Any) -> None:
        job = self._backend_job(machine, self.tr("Screen"), lambda b: b.screenshot(machine.id))
        job.succeeded.connect(done)
        job.failed.connect(lambda _e: done(b""))

    def offered_combos(self) -> list[tuple[str, str]]:
        """The Send key entries for the current tab: a VNC display sends any key itself; a
        preview only what its backend's capabilities say it can send."""
        page = self.page()
        keys = page.property("sendable_keys") if page is not None else None
        if keys is None:
            return list(SEND_KEYS)
        return [(label, combo) for label, combo in SEND_KEYS
                if combo_allowed(combo, frozenset(keys))]

    def _fill_send_menu(self) -> None:
        self.send_menu.clear()
        for label, combo in self.offered_combos():
            action = self.send_menu.addAction(label)
            action.triggered.connect(lambda _c=False, k=combo: self.send_combo(k))

    def send_combo(self, combo: str) -> None:
        """Send a key combination to the current tab's machine."""
        page = self.page()
        if page is None or page.send_combo(combo):
            return
        machine = self.machines[page]
        job = self._backend_job(machine, self.tr("Send keys"),
                                lambda b: b.send_keys(machine.id, [combo]))
        job.failed.connect(lambda error: show_error(self, self.tr("Keys"), error))

    def type_clipboard(self) -> None:
        """Type the clipboard's text into the current tab's machine."""
        page, text = self.page(), QApplication.clipboard().text()
        if page is None or not text:
            return
        if isinstance(page, SerialPage):
            page.terminal.paste()
            return
        machine = self.machines[page]
        job = self._backend_job(machine, self.tr("Type clipboard"),
                                lambda b: b.type_text(machine.id, text))
        job.failed.connect(lambda error: show_error(self, self.tr("Typing"), error))

    def save_screenshot(self, path: str = "") -> bool:
        """Save what the current tab shows as a PNG."""
        page = self.page()
        image = page.picture() if page is not None else None
        if image is None or image.isNull():
            return False
        if not path:
            machine = self.machines.get(page) if page is not None else None
            path, _ = QFileDialog.getSaveFileName(
                self, self.tr("Save screenshot"),
                screenshot_name(machine.name if machine else "", datetime.now()),
                self.tr("PNG (*.png)"))
        return bool(path) and image.save(path)

    def open_native_viewer(self) -> None:
        """Start the hypervisor's own viewer for the current tab's machine, detached."""
        page = self.page()
        argv = list(page.property("native_viewer") or []) if page is not None else []
        problem = start_viewer(argv)
        if problem:
            self.statusBar().showMessage(problem)
        else:
            self.statusBar().showMessage(self.tr("Opened %s") % argv[0])

    def closeEvent(self, event: QCloseEvent) -> None:
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if isinstance(page, ConsolePage):
                page.close_page()
        self.machines.clear()
        super().closeEvent(event)


def screenshot_name(machine_name: str, when: datetime) -> str:
    """'web-20261204-212300.png': the machine and the moment, so a second shot does not
    overwrite the first; no path separators, quotes or control characters in the name."""
    stem = "".join(c if c.isalnum() or c in " ._-()" else "_" for c in machine_name)
    stem = stem.strip(" .")[:80] or "screenshot"  # no hidden ".name", no trailing dot (Windows)
    return f"{stem}-{when:%Y%m%d-%H%M%S}.png"


def register(owner: Any, window: ConsoleWindow) -> None:
    """Remember a console window on the main window so it is found again."""
    windows: list[ConsoleWindow] = owner.__dict__.setdefault("_console_windows", [])
    windows.append(window)
    window.destroyed.connect(lambda: windows.remove(window) if window in windows else None)


def _shown_console(window: Any, machine: MachineSummary) -> ConsoleWindow | None:
    """The console window already showing `machine`, raised to its tab."""
    for console in window.__dict__.setdefault("_console_windows", []):
        for page, shown in console.machines.items():
            if shown.key == machine.key:
                console.tabs.setCurrentWidget(page)
                console.show()
                console.raise_()
                return console  # type: ignore[no-any-return]
    return None


def show_console(window: Any, machine: MachineSummary,
                 endpoints: ConsoleEndpoints) -> ConsoleWindow:
    """Open `machine`'s tabs for known endpoints in the main window's console window."""
    existing = _shown_console(window, machine)
    if existing is not None:
        return existing
    windows: list[ConsoleWindow] = window.__dict__.setdefault("_console_windows", [])
    if windows:
        console = windows[0]
    else:
        console = ConsoleWindow(window)
        console.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        register(window, console)
    facts = getattr(window, "facts", {}).get(machine.backend)
    if not console.add_pages(machine, endpoints, getattr(facts, "capabilities", None)):
        if not console.tabs.count():
            console.close()
        raise UnsupportedOperation(
            f"{machine.name} has no console: its hypervisor offers no display, screenshot or "
            "serial port for it")
    console.show()
    console.raise_()
    return console


def open_console(window: Any, machine: MachineSummary,
                 opened: Callable[[ConsoleWindow], None] | None = None) -> Job | None:
    """Show `machine`'s consoles: at once if open, else after asking the backend in a job.

    The backend call can take a round trip (Hyper-V asks PowerShell), so it never runs on the
    GUI thread. `opened` gets the console window once it shows. Returns the job, if one ran.
    """
    existing = _shown_console(window, machine)
    if existing is not None:
        if opened is not None:
            opened(existing)
        return None
    registry = window.registry
    job: Job = window.runner.submit(
        window.tr("Open console of %1").replace("%1", machine.name),
        lambda _p, _c: registry.open(machine.backend).console(machine.id), background=True)

    def show(endpoints: ConsoleEndpoints) -> None:
        try:
            console = show_console(window, machine, endpoints)
        except UnsupportedOperation as error:
            show_error(window, window.tr("Console"), error)
            return
        if opened is not None:
            opened(console)

    job.succeeded.connect(show)
    job.failed.connect(lambda error: show_error(window, window.tr("Console"), error))
    return job


def follow_serial(window: Any, machine: MachineSummary) -> Job:
    """Start keeping `machine`'s serial output now (call it once the machine runs), so that
    its console, opened later, shows the boot. Asks the backend for the endpoint in a job."""
    registry = window.registry
    job: Job = window.runner.submit(
        QCoreApplication.translate("Console", "Serial log of %1").replace("%1", machine.name),
        lambda _p, _c: registry.open(machine.backend).console(machine.id), background=True)

    def keep(endpoints: ConsoleEndpoints) -> None:
        if endpoints.serial is not None:
            serial_log_for(window, machine, endpoints.serial)

    job.succeeded.connect(keep)
    return job

