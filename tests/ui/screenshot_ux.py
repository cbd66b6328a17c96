"""The import review and dark main window screenshots (README), real QEMU machines, Xvfb.

Run: .venv/bin/python tests/ui/screenshot_ux.py docs/screenshots   (beside docs/screenshots.py,
whose Xvfb start it reuses; machines are made in a throwaway DESKTOPVM_HOME and deleted).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "docs"))


def main() -> None:
    from screenshots import start_xvfb  # docs/screenshots.py

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="dvm-ux-"))
    os.environ["DESKTOPVM_HOME"] = str(home)
    os.environ["DESKTOPVM_QEMU_ACCEL"] = "tcg"
    xvfb = start_xvfb()
    try:
        take(out, home)
    finally:
        xvfb.terminate()


def take(out: Path, home: Path) -> None:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from backends.qemu.backend import QemuBackend
    from desktopvm.jobs import JobRunner
    from desktopvm.protocol import CancelToken, no_progress
    from desktopvm.registry import KNOWN_BACKENDS, Registry
    from desktopvm.settings import Settings
    from desktopvm.ui.import_review import ImportReviewDialog
    from desktopvm.ui.main_window import MainWindow
    from desktopvm.ui.theme import apply_theme
    from tests.backends.qemu.guest import guest_spec
    from tests.guest.build_iso import build_test_iso

    app = QApplication([])
    iso = build_test_iso()
    settings = Settings(library_dir=str(home / "machines"), qemu_accel="tcg",
                        refresh_interval_s=2)
    qemu = QemuBackend(settings)
    made: list[str] = []

    def machine(name: str, os_id: str, memory: int) -> str:
        spec = guest_spec(name, iso).model_copy(update={"os": os_id})
        spec = spec.model_copy(update={"memory": spec.memory.model_copy(
            update={"size_mib": memory}), "notes": f"{name}: part of the demo lab"})
        made.append(qemu.create(spec, progress=no_progress, cancel=CancelToken()))
        return made[-1]

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

    web = machine("web-frontend", "debian12", 512)
    machine("build-runner", "ubuntu24.04", 768)
    db = machine("database", "rocky9", 384)
    ova = home / "web-frontend.ova"
    qemu.export(web, ova, progress=no_progress, cancel=CancelToken())
    qemu.start(db)
    runner = JobRunner()
    window = MainWindow(Registry(settings, known=KNOWN_BACKENDS), runner)
    window.resize(1366, 768)
    apply_theme("dark")
    window.show()
    window.start()
    wait_until(lambda: window.model.machine_count() >= 3 and "qemu" in window.facts)
    window.select(("localhost", "qemu", web))
    wait(1500)
    window.grab().save(str(out / "main-window-dark.png"))
    apply_theme("light")
    wait(300)
    operations = window.operations
    operations.ask_open_path = lambda: str(ova)
    operations.import_appliance()
    dialog = next(d for d in operations.open_dialogs if isinstance(d, ImportReviewDialog))
    wait_until(lambda: dialog.appliance is not None)
    dialog.adjustSize()
    wait(500)
    dialog.grab().save(str(out / "import-review.png"))
    dialog.reject()
    runner.cancel_all()
    runner.wait_for_done(10_000)
    qemu.power_off(db)
    for machine_id in made:
        qemu.delete(machine_id, delete_disks=True, progress=no_progress, cancel=CancelToken())
    window.close_backends()
    app.quit()


if __name__ == "__main__":
    main()
