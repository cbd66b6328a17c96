"""The desktop app's entry point: QApplication, logging, error hook, registry, main window."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktopvm import __version__, paths
from desktopvm.jobs import JobRunner
from desktopvm.registry import Registry
from desktopvm.settings import load_settings
from desktopvm.ui.main_window import MainWindow
from desktopvm.ui.theme import apply_theme

log = logging.getLogger("desktopvm")


def _setup_logging() -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    try:
        paths.log_dir().mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(paths.log_dir() / "desktopvm.log", encoding="utf-8"))
    except OSError as error:  # a read-only home must not stop the app
        sys.stderr.write(f"desktopvm: not logging to a file: {error}\n")
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _install_error_hook(show_windows: bool) -> None:
    """Unexpected exceptions are logged and shown as a dialog, never as a bare traceback."""
    def hook(kind: type[BaseException], error: BaseException,
             tb: TracebackType | None) -> None:
        details = "".join(traceback.format_exception(kind, error, tb))
        log.error("unexpected error:\n%s", details)
        if show_windows and QApplication.instance() is not None:
            from PySide6.QtWidgets import QMessageBox  # only on an error: keeps start-up lean

            box = QMessageBox(QMessageBox.Icon.Critical, "DesktopVM",
                              f"Something went wrong: {error}")
            box.setDetailedText(details)
            box.exec()

    sys.excepthook = hook


def main(argv: Sequence[str] | None = None) -> int:
    """Start the app. `--self-test` builds the main window and exits 0 (for installers)."""
    parser = argparse.ArgumentParser(prog="desktopvm", description="DesktopVM")
    parser.add_argument("--version", action="version", version=f"DesktopVM {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="build the main window, then exit 0 (checks an installation)")
    args, qt_args = parser.parse_known_args(argv)
    _setup_logging()
    app = QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("DesktopVM")
    app.setApplicationVersion(__version__)
    _install_error_hook(show_windows=not args.self_test)
    runner = JobRunner()
    settings = load_settings()
    apply_theme(settings.theme)
    window = MainWindow(Registry(settings), runner)
    window.show()
    if args.self_test:
        QTimer.singleShot(0, app.quit)
    else:
        window.start()
    code = app.exec()
    runner.cancel_all()
    runner.wait_for_done(5000)
    window.close_backends()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
