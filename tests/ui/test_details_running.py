"""The details pane of a running machine (issue 13): no blank block, no sideways scrolling at
the default and laptop window sizes, and the preview fetched as soon as the machine is active."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QImage

from desktopvm.jobs import JobRunner
from desktopvm.registry import Registry
from desktopvm.settings import Settings
from desktopvm.ui.main_window import MainWindow
from tests.ui.test_main_window import MEMORY, add, backend, refreshed, select

LONG_NAME = "ubuntu-desktop-build-machine-for-the-nightly-release-pipeline"


def png(width: int = 1024, height: int = 768) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#336699"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide6 stubs lack QBuffer
    return bytes(data.data())


@pytest.fixture
def runner(qtbot):
    runner = JobRunner()
    yield runner
    runner.cancel_all()
    runner.wait_for_done(10_000)


@pytest.fixture
def window(qtbot, runner, tmp_path: Path) -> MainWindow:
    registry = Registry(Settings(library_dir=str(tmp_path / "lib"), refresh_interval_s=3600),
                        known=(MEMORY,))
    window = MainWindow(registry, runner)
    qtbot.addWidget(window)
    window.show()
    mem = backend(window)
    capabilities = mem.capabilities().model_copy(update={"screenshot": True})
    mem.capabilities = lambda: capabilities
    shots: list[str] = []

    def screenshot(machine_id: str) -> bytes:  # the memory backend has no screen of its own
        shots.append(machine_id)
        return png()
    mem.screenshot = screenshot
    window.shots = shots  # type: ignore[attr-defined]
    return window


@pytest.mark.parametrize("size", [(1200, 720), (1366, 700), (900, 560)])
def test_a_running_machine_fits_the_pane_without_blank_or_sideways_scrolling(qtbot, window,
                                                                              size):
    machine_id = add(window, LONG_NAME, start=True)
    add(window, "web")
    refreshed(qtbot, window, 2)
    window.resize(*size)
    select(qtbot, window, machine_id)
    details = window.details
    # The window's preview timer never runs here: the shot comes from showing the machine.
    assert not window.preview_timer.isActive()
    qtbot.waitUntil(details.preview.has_shot, timeout=5000)
    qtbot.wait(50)
    scroller = details.widget(0)
    viewport = scroller.viewport().width()
    assert details._summary.minimumSizeHint().width() <= viewport
    assert details._summary.width() <= viewport  # nothing hidden to the right
    preview = details.preview.geometry()
    assert preview.right() <= viewport
    pixmap = details.preview.pixmap()
    assert pixmap.width() <= preview.width() and pixmap.height() <= preview.height()
    first = details.hardware.itemAt(0).widget().geometry()
    if size[0] >= 1200:  # the hardware rows start beside the preview, not below a blank block
        assert first.top() < preview.bottom()
        assert preview.width() < 320 or details.width() > 560  # it gave way, not the pane
    else:  # too narrow for both side by side: the preview goes under the list
        assert preview.top() > first.bottom()
    assert details.title.text() == LONG_NAME  # the whole name: shown elided, and as tooltip
    assert details.title.width() <= viewport
    assert details.title.toolTip() == LONG_NAME


def test_a_machine_that_starts_gets_its_preview_at_once(qtbot, window):
    machine_id = add(window, "web")
    refreshed(qtbot, window, 1)
    select(qtbot, window, machine_id)
    qtbot.waitUntil(lambda: window.details.info is not None, timeout=3000)
    assert not window.details.preview.isVisible() and window.shots == []
    backend(window).start(machine_id)
    refreshed(qtbot, window, 1)
    qtbot.waitUntil(window.details.preview.has_shot, timeout=5000)
    assert window.shots == [machine_id]


def test_a_late_screenshot_of_another_machine_is_not_shown(qtbot, window):
    first = add(window, "first", start=True)
    second = add(window, "second", start=True)
    refreshed(qtbot, window, 2)
    select(qtbot, window, second)
    qtbot.waitUntil(lambda: window.details.info is not None and
                    window.details.info.summary.id == second, timeout=3000)
    window.details.preview.clear()
    window.details.show_preview(png(), ("localhost", "memory", first))
    assert not window.details.preview.has_shot()
