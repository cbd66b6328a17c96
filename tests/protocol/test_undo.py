"""`Undo`: what an operation made goes again when it fails or is cancelled, and only then."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from desktopvm.protocol import OperationCancelled
from desktopvm.protocol.undo import Undo


def test_a_failure_undoes_newest_first_and_reraises(tmp_path: Path):
    order: list[str] = []
    folder = tmp_path / "made"
    with pytest.raises(OperationCancelled), Undo() as undo:
        folder.mkdir()
        undo.remove_tree(folder)
        (folder / "disk").write_bytes(b"x")
        undo.remove_file(folder / "disk")
        undo.add("first", lambda: order.append("first"))
        undo.add("second", lambda: order.append("second"))
        raise OperationCancelled()
    assert order == ["second", "first"]
    assert not folder.exists()


def test_success_keeps_everything(tmp_path: Path):
    path = tmp_path / "kept"
    with Undo() as undo:
        path.write_bytes(b"x")
        undo.remove_file(path)
    assert path.exists()


def test_a_failing_step_does_not_stop_the_others_nor_hide_the_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    done: list[str] = []

    def broken() -> None:
        raise OSError("disk gone")

    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="the real error"), \
            Undo() as undo:
        undo.add("last", lambda: done.append("last"))
        undo.add("broken", broken)
        undo.add("first", lambda: done.append("first"))
        raise ValueError("the real error")
    assert done == ["first", "last"]
    assert "could not broken while undoing: disk gone" in caplog.text


def test_keyboard_interrupt_undoes_too(tmp_path: Path):
    path = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt), Undo() as undo:
        path.write_bytes(b"x")
        undo.remove_file(path)
        raise KeyboardInterrupt
    assert not path.exists()
