"""vSphere tasks (beyond the module map): wait with progress, cancel with CancelTask.

A task is read through the property collector, four of its properties at a time — never
`task.info` whole: older hosts (and govmomi 0.24's simulator) name a snapshot or a manager as
the task's entity, which pyVmomi refuses to read as a ManagedEntity.
"""

from __future__ import annotations

import contextlib
from typing import Any

from backends.esxi.session import Session, fault_error, vim, vmodl
from desktopvm.protocol import BackendError, CancelToken, OperationCancelled, Progress

PATHS = ("info.state", "info.progress", "info.error", "info.result")
FIRST_POLL, LAST_POLL = 0.05, 1.0  # seconds between reads: quick tasks end quickly


def wait(session: Session, task: Any, *, progress: Progress, cancel: CancelToken,
         stage: str) -> Any:
    """The task's result once it succeeded; its fault as a BackendError; OperationCancelled
    after CancelTask when the user cancelled (and the host agreed to stop it)."""
    delay = FIRST_POLL
    asked = False
    while True:
        info = session.properties(task, PATHS)
        state = info.get("info.state")
        if state == vim.TaskInfo.State.success:
            progress(1.0, stage)
            return info.get("info.result")
        if state == vim.TaskInfo.State.error:
            error = info.get("info.error")
            if asked and isinstance(error, vmodl.fault.RequestCanceled):
                raise OperationCancelled(f"{stage}: cancelled", str(getattr(error, "msg", "")))
            if isinstance(error, vmodl.MethodFault):
                raise fault_error(error, stage) from error  # the fault stays the cause
            raise BackendError(f"{stage} failed", repr(error))
        percent = info.get("info.progress")
        progress(None if percent is None else min(int(percent), 99) / 100, stage)
        if cancel.cancelled and not asked:
            asked = True
            _cancel(session, task)
        cancel.wait(delay)
        delay = min(LAST_POLL, delay * 2)


def _cancel(session: Session, task: Any) -> None:
    """Ask the host to stop the task; a task that cannot be cancelled runs to its end."""
    # A task that is not cancelable (or already over) ends as it will: its end state decides.
    with contextlib.suppress(BackendError):
        session.run(lambda si: Session.bind(si, vim.Task, task._moId).CancelTask(),
                    "Cancelling")


def run_task(session: Session, start: Any, *, progress: Progress, cancel: CancelToken,
             stage: str) -> Any:
    """Start a task (`start(si)` returns it) and wait for it; cancel before it starts.

    A task that finished although the user cancelled returns normally: the caller, which
    knows what the task made, removes it (desktopvm.protocol.undo)."""
    cancel.raise_if_cancelled()
    progress(None, stage)
    task = session.run(start, stage)
    return wait(session, task, progress=progress, cancel=cancel, stage=stage)
