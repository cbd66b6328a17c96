"""A machine made on a target without OVF import (Hyper-V): its disks written here as VHDX,
placed where the host keeps disks (on a remote host: copied there), then `create` with them.

Restores (a set's disks) and OVA/OVF imports (a package's disks) both come this way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import cast

from desktopvm.backup.chain import scratch
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.protocol import (
    Backend,
    CancelToken,
    Progress,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.protocol.host_files import HostFileCopying, files_are_here
from desktopvm.protocol.undo import Undo

#: Writes one disk as a new VHDX file at the path given, reporting to the Progress given.
DiskMaker = Callable[[Path, Progress], None]


def refusal(target: Backend) -> str:
    """Why `target`'s host cannot be given disks from here ('' when it can): it must say
    where it keeps disks, and a remote host must take files copied to it."""
    if getattr(target, "facts", None) is None:
        return f"{target.display_name} does not say where it keeps its disks"
    if not files_are_here(target.host) and not isinstance(target, HostFileCopying):
        return (f"the disks would have to be copied to {target.host}, which "
                f"{target.display_name} cannot do")
    return ""


def create_with_disks(spec: MachineSpec, target: Backend, makers: Sequence[DiskMaker | None],
                      *, near: Path, what: str, progress: Progress,
                      cancel: CancelToken) -> str:
    """The new machine `spec` on `target`; its id.

    `makers` go with the spec's disks in order: each writes its disk, which becomes an
    existing VHDX of the machine; a disk without one is left as the spec has it (a blank
    disk the target creates). `near` is where scratch copies for a remote host are made;
    `what` names the work in folder names ('restored', 'imported'). Whatever was made is
    removed again on failure or cancel.
    """
    problem = refusal(target)
    if problem:
        raise UnsupportedOperation(f"Cannot make the machine on {target.display_name} from "
                                   f"here: {problem}; do it on that host itself")
    facts = target.facts  # type: ignore[attr-defined]  # refusal() checked it is there
    remote = not files_are_here(target.host)
    stem = file_stem(spec.name)
    copier = cast("HostFileCopying", target)
    count = sum(1 for maker in makers if maker is not None)
    with Undo() as undo, (scratch(near) if remote and count else nullcontext(None)) as work:
        if not count:  # blank disks only: the target makes them, no folder is needed
            folder = near
        elif work is not None:
            there = copier.make_host_folder(f"{stem}-{what}")
            undo.add(f"remove the copied disks on {target.host}",
                     lambda: copier.remove_host_folder(there))
            folder = work
        else:
            folder = Path(str(facts().disk_path)) / f"{stem}-{what}-{secrets.token_hex(4)}"
            folder.mkdir(parents=True)
            undo.remove_tree(folder)
        placed: dict[tuple[int, int, int], str] = {}
        share = 0.8 / max(1, count)
        number = 0
        for (index, disk), maker in zip(spec.all_disks(), makers, strict=True):
            if maker is None:
                continue
            number += 1
            file = folder / f"{stem}-disk{number}.vhdx"
            start = (number - 1) * share
            maker(file, scaled_progress(progress, start, share / 2 if remote else share))
            if remote:
                placed[(index, disk.port, disk.device)] = copier.put_host_file(
                    file, there, file.name, cancel=cancel,
                    progress=scaled_progress(progress, start + share / 2, share / 2))
                file.unlink()  # the scratch holds one converted disk at a time
            else:
                placed[(index, disk.port, disk.device)] = str(file)
        storage = tuple(
            controller.model_copy(update={"disks": tuple(
                d.model_copy(update={"path": placed[(index, d.port, d.device)],
                                     "format": DiskFormat.VHDX, "existing": True,
                                     "size_bytes": 0})
                if (index, d.port, d.device) in placed else d
                for d in controller.disks)})
            for index, controller in enumerate(spec.storage))
        new_id = target.create(spec.model_copy(update={"storage": storage}),
                               progress=scaled_progress(progress, 0.8, 0.2), cancel=cancel)
        # Undone before the folder goes (last in, first out); its disks are that folder's.
        # A blank disk the target made goes with it; the placed ones go with their folder.
        blank = count < len(makers)
        undo.add(f"delete the new machine {spec.name}",
                 lambda: target.delete(new_id, delete_disks=blank, progress=lambda *_: None,
                                       cancel=CancelToken()))
        cancel.raise_if_cancelled()
    if remote and count:
        copier.release_host_folder(there)  # the machine's disks live there now
    return new_id


def file_stem(name: str) -> str:
    """A machine name as a safe file-name stem."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")[:60] \
        or "machine"
