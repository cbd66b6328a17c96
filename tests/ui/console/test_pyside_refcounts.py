"""The installed PySide6 keeps Python's None and True alive: the console crash's real cause.

PySide6/shiboken6 6.12.0 on Python 3.10/3.11 returns None from void methods (QWidget.update,
QTimer.start, QLabel.setText, ...) and True from Signal.emit without taking a reference, so
each call drops the refcount of None or True by one. After a few thousand calls CPython
aborts with "Fatal Python error: bool_dealloc" (or none_dealloc) wherever the count reaches
zero — in the review, the serial reader's `self.data.emit(chunk)` while a guest booted. From
Python 3.12 on None and True are immortal, so the bug is harmless there. pyproject.toml
excludes that release; this test says so at once if a PySide6 with the same bug comes back.
The calls run in a child process: a bad PySide6 would otherwise abort pytest itself at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="None and True are immortal from Python 3.12 on: their refcounts cannot drop")

CALLS = 200  # far below the thousands that would abort the child

PROBE = f"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6 import __version__
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QWidget

class Emitter(QObject):
    ping = Signal(bytes)

def drop(singleton, call):
    before = sys.getrefcount(singleton)
    for _ in range({CALLS}):
        call()
    after = sys.getrefcount(singleton)
    return before - after

app = QApplication([])
emitter, widget, timer = Emitter(), QWidget(), QTimer()
print(json.dumps({{"version": __version__,
                  "Signal.emit": drop(True, lambda: emitter.ping.emit(b"x")),
                  "QWidget.update": drop(None, widget.update),
                  "QTimer.stop": drop(None, timer.stop)}}), flush=True)
os._exit(0)  # no teardown: with a bad PySide6 the interpreter would abort while finalizing
"""


def test_signals_and_void_methods_keep_true_and_none_alive() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                          check=False)
    assert done.returncode == 0, done.stderr
    drops = json.loads(done.stdout.strip().splitlines()[-1])
    version = drops.pop("version")
    leaking = {call: n for call, n in drops.items() if n >= CALLS // 2}
    assert not leaking, (
        f"PySide6 {version} releases None/True it does not own ({leaking} of {CALLS} calls): "
        "the app would abort with bool_dealloc/none_dealloc")
