"""Runs plans step by step with progress, and removes what a failed operation created."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from backends.virtualbox.plans import Step
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.protocol import BackendError, CancelToken, Progress

log = logging.getLogger(__name__)

LONG_TIMEOUT = 6 * 3600.0  # copying big disks takes long; cancel ends it earlier
CLEANUP_TIMEOUT = 120.0


def run_plan(vbox: VBoxManage, steps: Sequence[Step], progress: Progress, cancel: CancelToken,
             created: list[str], *, start: float = 0.0, end: float = 1.0) -> None:
    """Run `steps` in order, reporting progress between `start` and `end`.

    Files a step creates are appended to `created` once the step succeeded, so the caller's
    cleanup knows what to remove when a later step fails or the user cancels.
    """
    total = max(1, len(steps))
    for index, step in enumerate(steps):
        cancel.raise_if_cancelled()
        low = start + (end - start) * index / total
        high = start + (end - start) * (index + 1) / total
        progress(low, step.stage)

        def report(fraction: float, _run: int, low: float = low, high: float = high,
                   stage: str = step.stage) -> None:
            progress(low + (high - low) * fraction, stage)

        vbox.run(step.argv, timeout=LONG_TIMEOUT if step.long else None, cancel=cancel,
                 on_progress=report if step.long else None)
        if step.creates:
            created.append(step.creates)
    progress(end, steps[-1].stage if steps else "")


def remove_machine(vbox: VBoxManage, uuid: str) -> None:
    """Unregister a machine we created and delete its files (errors are logged, not raised)."""
    try:
        vbox.run(["unregistervm", uuid, "--delete"], timeout=CLEANUP_TIMEOUT,
                 retry_locked=False)
    except BackendError as error:
        log.info("cleanup: could not remove machine %s: %s", uuid, error.summary)


def remove_media(vbox: VBoxManage, paths: Sequence[str]) -> None:
    """Close and delete disk images we created that are still there."""
    for path in paths:
        if not Path(path).exists():
            continue
        try:
            vbox.run(["closemedium", "disk", path, "--delete"], timeout=CLEANUP_TIMEOUT,
                     retry_locked=False)
        except BackendError as error:
            log.info("cleanup: could not close medium %s: %s", path, error.summary)
        with contextlib.suppress(OSError):
            Path(path).unlink(missing_ok=True)
