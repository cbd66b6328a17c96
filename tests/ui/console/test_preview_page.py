"""The screenshot preview tab: adaptive polling, paused when hidden, clearly labelled."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QTabWidget, QWidget

from desktopvm.ui.console.text_pages import FAST_MS, SLOW_MS, PreviewPage


def png(colour: str, size: tuple[int, int] = (64, 40)) -> bytes:
    image = QImage(*size, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # stubs say bytes; runtime wants str
    return bytes(buffer.data().data())


def test_polls_fast_while_the_picture_changes_and_backs_off_when_idle(qtbot):
    asked: list[Callable[[bytes], None]] = []
    page = PreviewPage(asked.append)  # each poll asks for one screenshot
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(page, "preview")
    tabs.addTab(QWidget(), "other")
    tabs.show()
    assert "Preview" in page.label.text()  # labelled as a preview, not a live display
    assert page.timer.isActive() and page.timer.interval() == FAST_MS
    qtbot.waitUntil(lambda: len(asked) == 1)
    page._poll()  # a poll while one is pending asks nothing more
    assert len(asked) == 1
    asked.pop()(png("red"))
    assert page.timer.interval() == FAST_MS and page.picture().pixelColor(1, 1) == QColor("red")
    assert "64×40" in page.status()
    intervals = []
    for _ in range(6):  # the same picture again and again: slower each time, up to SLOW_MS
        page._poll()
        asked.pop()(png("red"))
        intervals.append(page.timer.interval())
    assert intervals == [2 * FAST_MS, 4 * FAST_MS, 8 * FAST_MS, SLOW_MS, SLOW_MS, SLOW_MS]
    page._poll()
    asked.pop()(b"")  # a failed screenshot keeps the last picture and does not speed up
    assert page.timer.interval() == SLOW_MS and page.picture().pixelColor(1, 1) == QColor("red")
    page._poll()
    asked.pop()(png("blue", (80, 50)))  # it changed: fast again
    assert page.timer.interval() == FAST_MS and "80×50" in page.status()
    tabs.setCurrentIndex(1)  # hidden: paused
    assert not page.timer.isActive()
    tabs.setCurrentIndex(0)
    assert page.timer.isActive()
    page.close_page()
    assert not page.timer.isActive()
