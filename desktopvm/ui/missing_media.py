"""Start refused because a machine's ISO file is gone: which drives, and the way on (eject it,
or put another disc in) as one job that changes the spec while the machine is off, then starts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from desktopvm.protocol import Backend, CancelToken, InvalidSpec, Progress, StartMode

if TYPE_CHECKING:
    from desktopvm.model import MachineSpec

_ISO_FIELD = re.compile(r"^storage\[(\d+)\]\.optical\[(\d+)\]\.iso$")


def missing_isos(error: object) -> list[tuple[int, int]]:
    """(controller, drive) of every optical drive whose ISO file is missing, when `error` is
    the validation refusal naming them (the model's rule: "The ISO file … does not exist")."""
    if not isinstance(error, InvalidSpec):
        return []
    drives = []
    for problem in error.problems:
        match = _ISO_FIELD.match(problem.field)
        if match and "does not exist" in problem.message:
            drives.append((int(match.group(1)), int(match.group(2))))
    return drives


def with_iso(spec: MachineSpec, drives: list[tuple[int, int]], iso: str) -> MachineSpec:
    """`spec` with the given drives holding `iso` ("" ejects)."""
    storage = list(spec.storage)
    for controller_index, drive_index in drives:
        controller = storage[controller_index]
        optical = list(controller.optical)
        optical[drive_index] = optical[drive_index].model_copy(update={"iso": iso})
        storage[controller_index] = controller.model_copy(update={"optical": tuple(optical)})
    return spec.model_copy(update={"storage": tuple(storage)})


def change_disc_and_start(backend: Backend, machine_id: str, drives: list[tuple[int, int]],
                          iso: str, *, progress: Progress, cancel: CancelToken) -> None:
    """In a job: put `iso` in the drives (eject when empty) through Backend.update, then
    start. The spec is read afresh, so a change made meanwhile is not reverted."""
    old = backend.get_machine(machine_id).spec
    new = with_iso(old, drives, iso)
    backend.update(machine_id, old, new, progress=progress, cancel=cancel)
    cancel.raise_if_cancelled()
    backend.start(machine_id, mode=StartMode.HEADLESS)
