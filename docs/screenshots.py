"""Takes the README/docs screenshots under Xvfb with real QEMU machines in several states.

The hosts tree adds two remote Hyper-V hosts beside them: a loopback HTTPS WinRM server running
the PowerShell double (tests/backends/hyperv), connected, and a closed port, unreachable. Their
passwords go to a file keyring in the throwaway home, never the user's keyring.

Run: .venv/bin/python docs/screenshots.py [OUT_DIR]   (default: docs/screenshots)
Needs Xvfb, QEMU and the test guest ISO's build tools (`.ci/setup` installs them). Machines
are created in a throwaway DESKTOPVM_HOME and removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktopvm.connections import HostConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def start_xvfb() -> subprocess.Popen[bytes]:
    """A private X server; DISPLAY points at it."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1400x900x24",
                               "-nolisten", "tcp"], pass_fds=(write,))
    os.close(write)
    # Xvfb writes the number and the newline separately, and dies if the pipe is closed in
    # between (EPIPE: "Cannot write display number"): read up to the newline.
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = os.read(read, 16)
        if not chunk:
            break
        answer += chunk
    os.close(read)
    display = answer.decode().strip()
    os.environ["DISPLAY"] = f":{display}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    return server


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="dvm-shots-"))
    os.environ["DESKTOPVM_HOME"] = str(home)
    os.environ["DESKTOPVM_QEMU_ACCEL"] = "tcg"
    xvfb = start_xvfb()
    try:
        take_screenshots(out, home)
    finally:
        xvfb.terminate()
        xvfb.wait()


def take_screenshots(out: Path, home: Path) -> None:  # noqa: PLR0915
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from backends.qemu.backend import QemuBackend
    from desktopvm.jobs import JobRunner
    from desktopvm.protocol import CancelToken, no_progress
    from desktopvm.registry import KNOWN_BACKENDS, Registry
    from desktopvm.settings import Settings
    from desktopvm.testing.guest.build_iso import build_test_iso
    from desktopvm.testing.qemu_guest import READY, SerialReader, guest_spec
    from desktopvm.ui.main_window import MainWindow
    from desktopvm.ui.wizard import NewVmWizard, PageId
    from docs.backup_shots import backup_shots, copy_report

    app = QApplication([])
    app.setStyle("Fusion")
    iso = build_test_iso()
    settings = Settings(library_dir=str(home / "machines"), qemu_accel="tcg",
                        refresh_interval_s=2)
    qemu = QemuBackend(settings)
    made: list[str] = []

    def machine(name: str, os_id: str, memory: int) -> str:
        spec = guest_spec(name, iso).model_copy(update={"os": os_id})
        spec = spec.model_copy(update={"memory": spec.memory.model_copy(
            update={"size_mib": memory}), "notes": f"{name}: part of the demo lab"})
        machine_id = qemu.create(spec, progress=no_progress, cancel=CancelToken())
        made.append(machine_id)
        return machine_id

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(check: Callable[[], bool], seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the screen never got ready")
            wait(100)

    def shot(widget: QWidget, name: str) -> None:
        wait(300)
        widget.grab().save(str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    web = machine("web-frontend", "debian12", 512)
    runner_vm = machine("build-runner", "ubuntu24.04", 768)
    db = machine("database", "rocky9", 384)
    win = machine("windows-lab", "windows11", 256)
    qemu.start(web)
    reader = SerialReader(qemu, web)
    reader.wait_for(READY, poke=True)
    reader.run("echo 'hello from DesktopVM'; uname -sr; echo SHOWN-$((40+2))", b"SHOWN-42")
    reader.close()
    qemu.start(db)
    qemu.pause(db)
    qemu.start(win)
    qemu.save_state(win, progress=no_progress, cancel=CancelToken())

    registry = Registry(settings, known=KNOWN_BACKENDS)
    runner = JobRunner()
    window = MainWindow(registry, runner)
    window.resize(1366, 768)  # a common laptop screen: the window must fit it
    window.show()
    window.start()
    wait_until(lambda: window.model.machine_count() == 4)
    window.select(("localhost", "qemu", web))
    wait_until(lambda: window.details.preview.pixmap() is not None and
               not window.details.preview.pixmap().isNull(), 30)
    shot(window, "main-window")
    with demo_hosts(home) as hosts:
        window.apply_settings(window.registry.settings.replace(hosts=hosts))
        monitor = window.registry.monitor
        wait_until(lambda: monitor.status(hosts[0].id).state.value == "connected" and
                   monitor.status(hosts[1].id).state.value == "unreachable" and
                   window.model.machine_count() == 7)
        # between two tries, so the red line counts down ("retrying in N s")
        wait_until(lambda: monitor.status(hosts[1].id).retry_in() >= 3)
        window.select_host(hosts[0].id)
        wait_until(lambda: hosts[0].id in window.host_info)
        shot(window, "hosts-tree")
        copy_report(window, runner_vm, hosts[0].id, shot, wait_until)  # QEMU -> Hyper-V
        window.apply_settings(window.registry.settings.replace(hosts=()))
    wait_until(lambda: window.model.machine_count() == 4)
    window.select(("localhost", "qemu", web))

    from desktopvm.ui.console_window import ConsoleWindow, open_console
    shown = window.current_machine()
    assert shown is not None
    opened: list[ConsoleWindow] = []
    open_console(window, shown, opened.append)
    wait_until(lambda: bool(opened))
    console = opened[0]
    console.resize(900, 620)
    console.tabs.setCurrentIndex(0)  # the graphical display
    wait(4000)  # the VNC connection and the first full frame
    shot(console, "console-window")
    console.close()

    wizard = NewVmWizard(list(window.facts.values()), runner, registry.open, window)
    wizard.show()
    names = {PageId.BACKEND: "wizard-1-backend", PageId.IDENTITY: "wizard-2-name-os",
             PageId.FIRMWARE: "wizard-3-firmware", PageId.RESOURCES: "wizard-4-cpu-memory",
             PageId.DISK: "wizard-5-disk", PageId.NETWORK: "wizard-6-network",
             PageId.SUMMARY: "wizard-7-summary"}
    for page, name in names.items():
        if wizard.currentId() != page:
            continue  # one connection that can create: the wizard starts on the name page
        if page == PageId.IDENTITY:
            from desktopvm.ui.editors import IdentityEditor
            identity = next(e for e in wizard.currentPage().editors  # type: ignore[attr-defined]
                            if isinstance(e, IdentityEditor))
            identity.os.set_os_id("windows11")
            identity.name.setText("windows-11-desktop")
        shot(wizard, name)
        if page != PageId.SUMMARY:
            wizard.next()
    wizard.reject()

    from desktopvm.ui.settings_dialog import SettingsDialog
    dialog = SettingsDialog(window.facts["qemu"], registry.open("qemu").get_machine(db), runner,
                            registry.open, window)
    dialog.show()
    shot(dialog, "settings-dialog")
    dialog.reject()

    from desktopvm.protocol import CommandFailed
    from desktopvm.ui.error_dialog import show_error
    error = CommandFailed("QEMU could not start the machine: Could not open "
                          "'/srv/isos/missing.iso': No such file or directory",
                          command=["qemu-system-x86_64", "-name", "guest=build-runner", "…"],
                          exit_code=1, stderr="qemu-system-x86_64: -drive if=none,id=cd1-0,"
                          "media=cdrom,readonly=on,file=/srv/isos/missing.iso: Could not open "
                          "'/srv/isos/missing.iso': No such file or directory")
    box = show_error(window, "Start build-runner", error)
    shot(box, "error-dialog")
    box.close()

    from desktopvm.ui.import_review import ImportReviewDialog
    from desktopvm.ui.theme import apply_theme

    apply_theme("dark")
    wait(500)
    shot(window, "main-window-dark")
    apply_theme("light")
    ova = home / "build-runner.ova"
    qemu.export(runner_vm, ova, progress=no_progress, cancel=CancelToken())
    operations = window.operations
    operations.ask_open_path = lambda: str(ova)
    operations.import_appliance()
    review = next(d for d in operations.open_dialogs if isinstance(d, ImportReviewDialog))
    wait_until(lambda: review.appliance is not None)
    review.adjustSize()
    shot(review, "import-review")
    review.reject()
    backup_shots(window, (web, runner_vm), home, shot, wait_until)

    window.close()
    runner.cancel_all()
    runner.wait_for_done(30_000)
    for machine_id in made:
        info = qemu.get_machine(machine_id)
        if info.state.value in ("running", "paused", "saved"):
            qemu.power_off(machine_id)
        qemu.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())


@contextmanager
def demo_hosts(home: Path) -> Iterator[tuple[HostConfig, HostConfig]]:
    """Two remote Hyper-V hosts for the hosts tree: a loopback WinRM server running the
    PowerShell double with three machines, and a closed port."""
    import socket

    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    from desktopvm import credentials
    from desktopvm.connections import HostConfig
    from desktopvm.model import defaults_for
    from desktopvm.protocol import CancelToken, no_progress
    from desktopvm.registry import Registry
    from desktopvm.settings import Settings
    from desktopvm.testing.doubles.certs import make_tls
    from desktopvm.testing.doubles.hyperv.double import FAKE_POWERSHELL, FakeHost
    from desktopvm.testing.doubles.hyperv.winrm_server import WinRMTestServer, running

    file_keyring = PlaintextKeyring()
    file_keyring.file_path = str(home / "keyring.cfg")  # not the user's keyring
    keyring.core._keyring_backend = file_keyring
    os.environ["DESKTOPVM_WINRM_TIMEOUTS"] = "2,5"
    tls = make_tls(home / "tls")
    fake = FakeHost(home / "hv01")
    server = WinRMTestServer(auth="basic", user="admin", password="demo password",
                             commands={"powershell.exe": [str(FAKE_POWERSHELL)]},
                             tls=(tls.certificate, tls.key), env=fake.environment)
    with socket.socket() as probe:  # a port nothing listens on: the host that is down
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with running(server):
        up = HostConfig("hyperv", "127.0.0.1", port=server.port, username="admin",
                        auth="basic", ca_file=str(tls.ca), label="hv01.lab.example")
        down = HostConfig("hyperv", "127.0.0.1", port=closed, username="admin", auth="basic",
                          ca_file=str(tls.ca), label="hv02.lab.example")
        for host in (up, down):
            credentials.store_password(host, "demo password")
        registry = Registry(Settings(hosts=(up,)))
        backend = registry.open(up.id)
        for name, os_id in (("dc01", "windows-server-2022"), ("sql01", "windows-server-2022"),
                            ("build-agent", "ubuntu24.04")):
            machine_id = backend.create(defaults_for(os_id, backend.capabilities(), name=name),
                                        progress=no_progress, cancel=CancelToken())
            if name == "dc01":
                backend.start(machine_id)
        registry.close()
        yield up, down


if __name__ == "__main__":
    main()
    os._exit(0)  # skip PySide's teardown: nothing is left to save
