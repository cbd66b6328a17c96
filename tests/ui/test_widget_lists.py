"""Widget lists are taken with Python's cycle collector paused (widget_lists.py says why),
and nothing else asks Qt for them directly."""

from __future__ import annotations

import gc
import re
from pathlib import Path

from PySide6.QtWidgets import QWidget

from desktopvm.ui import widget_lists

ROOT = Path(__file__).resolve().parents[2]


def test_the_collector_is_paused_while_qt_lists_and_on_again_after(qtbot):
    seen: list[bool] = []

    def read() -> list[QWidget]:
        seen.append(gc.isenabled())
        return [window]

    window = QWidget()
    qtbot.addWidget(window)
    assert gc.isenabled()
    assert widget_lists._listed(read) == [window]
    assert seen == [False] and gc.isenabled()
    gc.disable()  # one paused by someone else stays paused
    try:
        widget_lists._listed(read)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_lists_hold_the_live_widgets(qtbot):
    window = QWidget()
    qtbot.addWidget(window)
    assert window in widget_lists.top_level_widgets()
    assert window in widget_lists.all_widgets()


def test_nothing_else_asks_qt_for_every_widget():
    direct = re.compile(r"\.(allWidgets|topLevelWidgets)\(")
    offenders = [str(path.relative_to(ROOT)) for folder in ("desktopvm", "tests", "docs", "bench")
                 for path in (ROOT / folder).rglob("*.py")
                 if path.name != "widget_lists.py" and path != Path(__file__).resolve()
                 and direct.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
