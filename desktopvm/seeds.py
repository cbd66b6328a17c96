"""Seed discs attached to machines, and taking them out after the first boot.

A seed disc (answer files, or a cloud image's NoCloud data) is needed for one boot: the
installer or cloud-init reads it then. It holds the user's answers — the password hashed for
Linux, obfuscated as Windows requires for Windows — so DesktopVM removes it as soon as it is
done with: **when DesktopVM sees the machine off after having seen it run** (or, at the latest,
before DesktopVM starts it a second time), it takes the drive out of the machine's settings
and deletes the file. Every answer file ends the install by powering off, so for an install
that runs to its end "off after running" is "install finished".

What DesktopVM saw is kept in a small record beside each seed (`<library>/.seeds/*.json`,
no secret in it): which connection and machine, the seed's path, and whether the machine was
seen running. `observe` (CLI `list`/`show`/`start`, the window's machine list) and
`before_start`/`started` (every start through DesktopVM) keep it current.

Debian's installer does not look for a second disc: on a backend that can boot a kernel
directly (QEMU: `InstallerBooting`), the machine's first boot starts the installer's kernel
from the install disc with the answers inside its initrd (desktopvm/media/unattended/
initrd.py). That boot is dropped at the same moment the seed is taken out.

Remote hosts: a backend that copies a local ISO to the host's storage when a machine is made
(`SeedUploading`: ESXi uploads it to the machine's datastore) takes seeds like a local one;
the record then also names the host's copy, which is deleted with the seed (it holds the same
answers). Any other remote host is refused in words (`refusal`): Hyper-V's WinRM connection
runs commands on the host and has no way to carry a file to its disks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from desktopvm.connections import is_remote, kind_of
from desktopvm.media.unattended import Kind, SeedPlan, initrd, write_seed
from desktopvm.model import MachineSpec, OpticalDrive, StorageController
from desktopvm.model.devices import ControllerKind
from desktopvm.paths import atomic_write_text
from desktopvm.protocol import (
    Backend,
    BackendError,
    CancelToken,
    MachineSummary,
    PowerState,
    Progress,
    StartMode,
    no_progress,
)
from desktopvm.settings import Settings

log = logging.getLogger(__name__)
SCHEMA = 1
_OFF = (PowerState.OFF, PowerState.ABORTED)
_RUNNING = (PowerState.RUNNING, PowerState.PAUSED, PowerState.SAVED, PowerState.STARTING,
            PowerState.STOPPING)


class SeedRefused(BackendError):
    """This backend cannot take a seed disc (refusal() says why)."""


@dataclass(frozen=True)
class SeedRecord:
    """One seed disc in a machine."""

    connection: str
    machine_id: str
    seed: str
    seen_running: bool = False
    schema: int = SCHEMA
    host_copy: str = ""  # the seed's copy on a remote host's storage ("[ds] folder/x.iso")

    @property
    def drive_iso(self) -> str:
        """What the machine's drive reads: the host's copy, else the file here."""
        return self.host_copy or self.seed

    @property
    def path(self) -> Path:
        """The record's own file, beside the seed."""
        return Path(self.seed).with_suffix(".json")


@runtime_checkable
class InstallerBooting(Protocol):
    """A backend that can start a machine's next boot from an installer's kernel and initrd
    (QEMU's `-kernel/-initrd/-append`), once."""

    def boot_installer_once(self, machine_id: str, *, kernel: bytes, initrd: bytes,
                            append: str, label: str) -> None: ...

    def drop_installer_boot(self, machine_id: str) -> bool: ...

    def installer_boot(self, machine_id: str) -> str: ...


@runtime_checkable
class SeedUploading(Protocol):
    """A remote backend that uploads a CD/DVD's local ISO to the host when a machine is made
    (ESXi: to the machine's datastore), so a seed made here reaches the machine."""

    def uploaded_copy(self, machine_id: str, local: Path) -> str:
        """The host's copy of `local` a drive of the machine reads ("" when none does)."""
        ...

    def delete_uploaded(self, path: str) -> None:
        """Delete a copy uploaded_copy named (a copy already gone is no error)."""
        ...

    def delete_uploads_of(self, local: Path) -> None:
        """Delete any copy of `local` a create that then failed had uploaded."""
        ...


#: Remote backend kinds whose backends are SeedUploading, for where no backend is open yet
#: (the wizard's name page); tests/backends/esxi/test_seeds_esxi.py holds the two together.
UPLOADING_KINDS = frozenset({"esxi"})


def refusal(connection: str) -> str:
    """Why connection `connection` cannot take a seed disc, in words; "" when it can (every
    backend on this computer, and remote ones that upload a local ISO at create)."""
    if not is_remote(connection) or kind_of(connection) in UPLOADING_KINDS:
        return ""
    if kind_of(connection) == "hyperv":
        return ("Unattended installs are not possible on a remote Hyper-V host: the seed disc "
                "is made on this computer, and DesktopVM's connection to the host (WinRM) runs "
                "commands there but cannot copy a file to its disks.")
    return ("Unattended installs are not possible on this remote host: the seed disc is made "
            "on this computer and DesktopVM cannot copy it to the host.")


def takes_seeds(backend: Backend) -> bool:
    """Whether `backend` has seed discs to look after (refusal() is empty)."""
    return not refusal(backend.name)


def installer_boot_for(plan: SeedPlan, backend: object, spec: MachineSpec
                       ) -> initrd.InstallerBoot | None:
    """For a Debian install on a backend that boots kernels: the installer's first boot with
    the preseed in its initrd, read from the machine's install disc (NoInstaller, in words,
    when the disc has no installer). None for other installers and backends."""
    if plan.kind is not Kind.DEBIAN or not isinstance(backend, InstallerBooting):
        return None
    disc = next((drive.iso for _, drive in spec.all_optical() if drive.iso), "")
    if not disc:
        raise initrd.NoInstaller("Debian's unattended install needs the installer's disc (a "
                                 "Debian netinst, CD or DVD image) in the machine")
    return initrd.installer_boot(Path(disc), plan.files["preseed.cfg"],
                                 serial=any(port.number == 1 for port in spec.serial))


def boot_installer(backend: object, machine_id: str, boot: initrd.InstallerBoot | None
                   ) -> None:
    """Give a new machine its installer's first boot (nothing when `boot` is None)."""
    if boot is not None and isinstance(backend, InstallerBooting):
        backend.boot_installer_once(machine_id, kernel=boot.kernel, initrd=boot.initrd,
                                    append=boot.append, label=boot.label)


def seed_folder(settings: Settings) -> Path:
    """Where seed discs live: the library folder (a folder no machine is in)."""
    return settings.library() / ".seeds"


def new_seed_path(settings: Settings, suffix: str = ".iso") -> Path:
    """A fresh file name for a seed disc."""
    return seed_folder(settings) / f"seed-{uuid.uuid4().hex[:12]}{suffix}"


def with_seed(spec: MachineSpec, seed: Path) -> MachineSpec:
    """`spec` with the seed in an extra optical drive beside the first one (an empty drive is
    used when there is one), or on a new SATA controller when the machine has no drive."""
    storage = list(spec.storage)
    for index, controller in enumerate(storage):
        if not controller.optical:
            continue
        drives = list(controller.optical)
        empty = next((i for i, d in enumerate(drives) if not d.iso), None)
        if empty is not None:
            drives[empty] = drives[empty].model_copy(update={"iso": str(seed)})
        else:
            taken = {(d.port, d.device) for d in controller.disks} | {
                (d.port, d.device) for d in controller.optical}
            port = max(p for p, _ in taken) + 1
            if controller.kind is ControllerKind.IDE:  # two ports of two devices
                free = [(p, d) for p in range(2) for d in range(2) if (p, d) not in taken]
                port, device = free[0] if free else (port, 0)
                drives.append(OpticalDrive(iso=str(seed), port=port, device=device))
            else:
                drives.append(OpticalDrive(iso=str(seed), port=port))
        storage[index] = controller.model_copy(update={"optical": tuple(drives)})
        return spec.model_copy(update={"storage": tuple(storage)})
    storage.append(StorageController(name="seed", kind=ControllerKind.SATA,
                                     optical=(OpticalDrive(iso=str(seed)),)))
    return spec.model_copy(update={"storage": tuple(storage)})


def without_seed(spec: MachineSpec, seed: str) -> MachineSpec:
    """`spec` with the drive holding `seed` removed (a controller left empty goes too)."""
    storage = []
    for controller in spec.storage:
        drives = tuple(d for d in controller.optical if d.iso != seed)
        if controller.name == "seed" and not drives and not controller.disks:
            continue
        storage.append(controller.model_copy(update={"optical": drives}))
    return spec.model_copy(update={"storage": tuple(storage)})


def remember(record: SeedRecord) -> None:
    """Write (or rewrite) a seed's record."""
    atomic_write_text(record.path, json.dumps(asdict(record), indent=1) + "\n")


def records(settings: Settings, connection: str) -> list[SeedRecord]:
    """The records of one connection's seeds; unreadable ones are skipped with a warning."""
    found = []
    for path in sorted(seed_folder(settings).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = SeedRecord(**data)
        except (OSError, ValueError, TypeError) as error:
            log.warning("skipping the seed record %s: %s", path, error)
            continue
        if record.connection == connection and record.schema == SCHEMA:
            found.append(record)
    return found


def forget(record: SeedRecord) -> None:
    """Delete the seed disc and its record."""
    Path(record.seed).unlink(missing_ok=True)
    record.path.unlink(missing_ok=True)


def drop_uploads(backend: object, seed: Path) -> None:
    """A create failed: a copy of its seed the backend had already sent to the host goes too
    (an upload stays after a failed create, to be reused; a seed disc is never reused). A
    failure here is logged: it must not hide why the create failed."""
    if isinstance(backend, SeedUploading) and seed.is_file():
        try:
            backend.delete_uploads_of(seed)
        except Exception as error:
            log.warning("could not delete the host's copy of the seed disc %s: %s",
                        seed.name, error)


def drop_host_copy(backend: Backend, record: SeedRecord) -> None:
    """Delete the seed's copy on the host, if it has one: it holds the answers too (a machine
    deleted on the host leaves it behind: it is not in the machine's folder)."""
    if record.host_copy and isinstance(backend, SeedUploading):
        backend.delete_uploaded(record.host_copy)


def detach(backend: Backend, record: SeedRecord) -> None:
    """Take the seed's drive out of the (off) machine, then delete the host's copy (if any),
    the disc and its record."""
    info = backend.get_machine(record.machine_id)
    if isinstance(backend, InstallerBooting):  # from now on it boots the installed system
        backend.drop_installer_boot(record.machine_id)
    new = without_seed(info.spec, record.drive_iso)
    if new != info.spec:
        backend.update(record.machine_id, info.spec, new, progress=no_progress,
                       cancel=CancelToken())
    drop_host_copy(backend, record)
    forget(record)
    log.info("removed the seed disc %s from %s", record.seed, info.summary.name)


def observe(settings: Settings, backend: Backend,
            machines: Iterable[MachineSummary]) -> list[str]:
    """Bring the records of `backend`'s seeds up to date with the machines' states; returns
    the names of machines whose seed was taken out (nothing for a backend that takes no
    seeds)."""
    if not takes_seeds(backend):
        return []
    states = {m.id: m for m in machines}
    done = []
    for record in records(settings, backend.name):
        machine = states.get(record.machine_id)
        if machine is None:  # the machine is gone: so is the need for its seed
            try:
                drop_host_copy(backend, record)
                forget(record)
            except Exception as error:  # tried again next time; never fatal to a listing
                log.warning("could not delete the seed disc's copy %s yet: %s",
                            record.host_copy, error)
        elif machine.state in _RUNNING and not record.seen_running:
            remember(replace(record, seen_running=True))
        elif machine.state in _OFF and record.seen_running:
            try:
                detach(backend, record)
                done.append(machine.name)
            except Exception as error:  # tried again next time; never fatal to a listing
                log.warning("could not take the seed out of %s yet: %s", machine.name, error)
    return done


def before_start(settings: Settings, backend: Backend, machine_id: str) -> bool:
    """Before DesktopVM starts a machine: a seed whose first boot is over is taken out now.
    Returns True when one was. A machine with a saved state is not booting again: it resumes
    its first boot, which needs the seed (and the installer's kernel) still there."""
    for record in records(settings, backend.name):
        if record.machine_id == machine_id and record.seen_running:
            if backend.get_machine(machine_id).state not in _OFF:
                return False
            detach(backend, record)
            return True
    return False


def started(settings: Settings, backend: Backend, machine_id: str) -> None:
    """After DesktopVM started a machine: its first boot with the seed has begun."""
    for record in records(settings, backend.name):
        if record.machine_id == machine_id and not record.seen_running:
            with contextlib.suppress(OSError):
                remember(replace(record, seen_running=True))


def start(settings: Settings, backend: Backend, machine_id: str, mode: StartMode) -> bool:
    """Start a machine the way DesktopVM always does (the window and the CLI): a seed whose
    first boot is over goes first, and a seed's first boot is noted once the machine runs.
    Returns True when a seed was taken out. Remote hosts that take no seeds have none."""
    if not takes_seeds(backend):
        backend.start(machine_id, mode=mode)
        return False
    removed = before_start(settings, backend, machine_id)
    backend.start(machine_id, mode=mode)
    started(settings, backend, machine_id)
    return removed


def create_with_seed(settings: Settings, backend: Backend, spec: MachineSpec, plan: SeedPlan,
                     *, progress: Progress, cancel: CancelToken) -> str:
    """Write `plan`'s seed disc, create the machine with it in an extra drive and remember it
    (the window's Create; a job, never the GUI thread). A create that fails or is cancelled
    removes the seed again. Debian on QEMU also gets its installer's first boot."""
    reason = refusal(backend.name)
    if reason:
        raise SeedRefused(reason)
    boot = installer_boot_for(plan, backend, spec)  # a disc without an installer: refused
    seed = new_seed_path(settings)
    write_seed(plan, seed)
    try:
        machine_id = backend.create(with_seed(spec, seed), progress=progress, cancel=cancel)
    except BaseException:
        drop_uploads(backend, seed)
        seed.unlink(missing_ok=True)
        raise
    remember(record_for(backend, machine_id, seed))
    boot_installer(backend, machine_id, boot)
    return machine_id


def record_for(backend: Backend, machine_id: str, seed: Path) -> SeedRecord:
    """The record of a new machine's seed, naming the host's copy when the backend uploaded
    it (read back from the machine, under the name the upload took)."""
    copy = backend.uploaded_copy(machine_id, seed) if isinstance(backend, SeedUploading) else ""
    return SeedRecord(connection=backend.name, machine_id=machine_id, seed=str(seed),
                      host_copy=copy)


def installer_boot(backend: object, machine_id: str) -> str:
    """The installer's first boot a machine has ("" when none), for the details."""
    return backend.installer_boot(machine_id) if isinstance(backend, InstallerBooting) else ""
