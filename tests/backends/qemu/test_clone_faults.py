"""A linked clone killed half-way never costs the source its disk (review-security.md D3).

The clone runs in a child process that dies (os._exit, as under SIGKILL: no clean-up runs)
right after a chosen step; the source must still start from a file holding its data, and a
later garbage collection of shared bases must not take that data away.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backends.qemu.backend import QemuBackend
from desktopvm.model import Disk, DiskFormat, defaults_for
from desktopvm.protocol import CancelToken, no_progress
from desktopvm.settings import Settings
from tests.images.hostile import qemu_img

MARK = b"DVM-SOURCE-DATA-5e1f\n"

CHILD = textwrap.dedent("""
    import os, sys
    from backends.qemu import qemu_img, clones
    from backends.qemu.backend import QemuBackend
    from desktopvm.protocol import CancelToken, no_progress
    from desktopvm.settings import Settings

    library, machine_id, step = sys.argv[1], sys.argv[2], sys.argv[3]
    real_create = qemu_img.QemuImg.create
    real_save = clones.MachineStore.save_spec
    created = []

    def create(self, *args, **kwargs):
        result = real_create(self, *args, **kwargs)
        created.append(1)
        if step == "after-first-overlay":
            os._exit(9)
        return result

    def save_spec(self, files, spec):
        real_save(self, files, spec)
        if step == "after-source-record":
            os._exit(9)

    qemu_img.QemuImg.create = create
    clones.MachineStore.save_spec = save_spec
    backend = QemuBackend(Settings(library_dir=library))
    backend.clone(machine_id, "half clone", linked=True, progress=no_progress,
                  cancel=CancelToken())
""")


def source_data(backend: QemuBackend, machine_id: str, out: Path) -> bytes:
    """The source's disk as the guest would read it (the backing chain flattened)."""
    [(_, disk)] = backend.get_machine(machine_id).spec.all_disks()
    qemu_img("convert", "-O", "raw", disk.path, str(out))
    return out.read_bytes()


@pytest.mark.parametrize("step", ["after-first-overlay", "after-source-record"])
def test_a_killed_linked_clone_keeps_the_source_disk(tmp_path: Path, step: str):
    library = tmp_path / "library"
    backend = QemuBackend(Settings(library_dir=str(library)))
    raw = tmp_path / "data.raw"
    raw.write_bytes(MARK * 4096)
    disk = tmp_path / "source.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk))
    spec = defaults_for("debian12", backend.capabilities()).model_copy(update={"name": "src"})
    spec = spec.model_copy(update={"storage": (spec.storage[0].model_copy(update={
        "disks": (Disk(path=str(disk), existing=True, format=DiskFormat.QCOW2),),
        "optical": ()}),)})
    machine_id = backend.create(spec, progress=no_progress, cancel=CancelToken())
    # the disk must live in the machine's folder for the clone to move it to the bases
    [(_, attached)] = backend.get_machine(machine_id).spec.all_disks()
    inside = backend.store.files(machine_id).folder / "disk0.qcow2"
    Path(attached.path).replace(inside)
    old = backend.get_machine(machine_id).spec
    backend.store.save_spec(backend.store.files(machine_id), old.model_copy(update={
        "storage": (old.storage[0].model_copy(update={"disks": (
            old.storage[0].disks[0].model_copy(update={"path": str(inside)}),)}),)}))

    child = subprocess.run([sys.executable, "-c", CHILD, str(library), machine_id, step],
                           cwd=Path(__file__).parents[3], capture_output=True, check=False)
    assert child.returncode == 9, child.stderr.decode()

    backend = QemuBackend(Settings(library_dir=str(library)))  # a new process, after the crash
    assert source_data(backend, machine_id, tmp_path / "a.raw").startswith(MARK * 64)
    # Garbage collection of bases (runs after any delete with disks) keeps what it needs.
    other = backend.create(defaults_for("debian12", backend.capabilities()).model_copy(
        update={"name": "other"}), progress=no_progress, cancel=CancelToken())
    backend.delete(other, delete_disks=True, progress=no_progress, cancel=CancelToken())
    assert source_data(backend, machine_id, tmp_path / "b.raw").startswith(MARK * 64)
