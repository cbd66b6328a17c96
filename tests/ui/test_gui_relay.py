"""The GUI relay: a call posted from a worker thread runs on the GUI thread while its
receiver exists, and never once it is deleted (its on_gone runs instead)."""

from __future__ import annotations

import threading
from functools import partial

import shiboken6
from PySide6.QtCore import QObject

from desktopvm.ui import gui_relay


def test_a_call_from_a_thread_runs_on_the_gui_thread_only_for_a_living_receiver(qtbot):
    alive, gone = QObject(), QObject()
    shiboken6.delete(gone)
    ran: list[tuple[str, bool]] = []

    def note(name: str) -> None:
        ran.append((name, threading.current_thread() is threading.main_thread()))

    def worker() -> None:
        for name, receiver in (("alive", alive), ("gone", gone)):
            gui_relay.post(receiver, partial(note, name), on_gone=partial(note, name + " gone"))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(ran) == 2, timeout=5000)
    assert ran == [("alive", True), ("gone gone", True)]


def test_the_relay_made_on_a_worker_still_delivers_on_the_gui_thread(qtbot, monkeypatch):
    monkeypatch.setattr(gui_relay, "_RELAY", [])
    made: list[gui_relay.GuiRelay] = []
    thread = threading.Thread(target=lambda: made.append(gui_relay.relay()))
    thread.start()
    thread.join()
    from PySide6.QtCore import QCoreApplication

    app = QCoreApplication.instance()
    assert app is not None and made[0].thread() is app.thread()
    target, ran = QObject(), []

    def note() -> None:
        ran.append(threading.current_thread() is threading.main_thread())

    gui_relay.post(target, note)
    qtbot.waitUntil(lambda: ran == [True], timeout=5000)
