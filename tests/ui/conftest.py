"""Fixtures for GUI tests: an in-memory backend, a job runner, backend facts, error dialogs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from desktopvm.jobs import JobRunner
from desktopvm.protocol import HostInfo
from desktopvm.testing.doubles.memory_backend import MemoryBackend
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.widget_lists import top_level_widgets

FactsMaker = Callable[..., BackendFacts]


@pytest.fixture
def memory_backend(tmp_path: Path) -> MemoryBackend:
    """A fresh in-memory backend keeping its (empty) disk files under tmp_path."""
    return MemoryBackend(tmp_path / "machines")


@pytest.fixture
def runner(qtbot: Any) -> Iterator[JobRunner]:
    """A job runner whose jobs are cancelled and waited for when the test ends."""
    job_runner = JobRunner(max_threads=2)
    yield job_runner
    job_runner.cancel_all()
    assert job_runner.wait_for_done(10_000)
    # Deliver what the workers reported (queued to this thread) and run the deferred
    # deletes now, while the test's widgets still exist: left pending, they were delivered
    # in the middle of the next test, after this test's objects had gone (a crash in Qt).
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def make_facts() -> FactsMaker:
    """Build BackendFacts from a backend, optionally changing its capabilities or host.

    make_facts(backend, host_info=HostInfo(...), tpm_unavailable_reason="...") changes the
    named capabilities with model_copy.
    """
    def make(backend: MemoryBackend, host_info: HostInfo | None = None,
             **capability_changes: Any) -> BackendFacts:
        capabilities = backend.capabilities().model_copy(update=capability_changes)
        return BackendFacts(backend.name, backend.display_name, backend.probe(), capabilities,
                            host_info or backend.host_info())

    return make


def error_dialogs() -> list[QMessageBox]:
    """Visible error dialogs (show_error names them "error-dialog")."""
    return [w for w in top_level_widgets()
            if isinstance(w, QMessageBox) and w.objectName() == "error-dialog" and w.isVisible()]


@pytest.fixture
def find_error_dialogs() -> Callable[[], list[QMessageBox]]:
    """A function listing the visible error dialogs."""
    return error_dialogs
