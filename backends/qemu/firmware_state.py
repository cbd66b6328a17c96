"""A QEMU machine's firmware state for backups: its UEFI variable store and swtpm's TPM state.

The variable store is the machine's `nvram.qcow2` (qcow2 so savevm can snapshot it); a set
holds it as the raw flash image the guest sees. A running machine's store is copied by the
same QMP transaction as its disks (backup.py: the `pflash1` drive is one more job), so it
is exactly as consistent as they are. For comparison, libvirt's own backup API backs up
disks only; tools around it (virtnbdbackup) copy the VARS file as it is on disk while the
guest runs.

The TPM's state is swtpm's state folder (`--tpmstate dir=`). swtpm writes each state blob
to a temporary file, fsyncs it and renames it over the old one (swtpm_nvstore_dir.c), so a
copy always reads a whole blob, never a torn one. It keeps the permanent state
(`tpm2-00.permall`: the seeds, NV indices, what BitLocker's key is sealed to) in that file
at every change; the volatile state is written only when swtpm is stopped or suspended.
There is no way to have a running swtpm hold still for a copy, so a running machine's TPM
state is the permanent state as swtpm last wrote it, read right after the disks' point in
time (the set says the machine was running). An off machine's is exact.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path

from backends.qemu import snapshots
from backends.qemu.inventory import MachineStore
from backends.qemu.layout import MachineFiles
from backends.qemu.qemu_img import QemuImg
from desktopvm.model import DiskFormat, Firmware, MachineSpec
from desktopvm.paths import read_regular
from desktopvm.protocol import BackendError, CancelToken, InvalidState, PowerState
from desktopvm.protocol.backup import (
    MAX_NVRAM_BYTES,
    MAX_TPM_FILE_BYTES,
    TPM_STATE_FILE,
    FirmwareState,
)

JOURNAL = ".firmware-restore-"  # + tag: a restore of the state under way (see _put_in)
DONE = ".done"  # + on the journal once both are in: the restore is committed
NVRAM_DRIVE = "pflash1"  # the drive id QEMU gives the variable store (-drive if=pflash,unit=1)
NVRAM_COPY = "nvram.fd"
TPM_COPY = "tpm"


def nvram_target(spec: MachineSpec, files: MachineFiles) -> Path | None:
    """The machine's variable store when it has one to back up (UEFI), else None."""
    if spec.firmware.kind is not Firmware.UEFI or not files.nvram.is_file():
        return None
    return files.nvram


def copy_nvram(qemu_img: QemuImg, files: MachineFiles, folder: Path,
               cancel: CancelToken) -> Path:
    """The store of a machine that is off, as a raw image in `folder` (no daemon to ask)."""
    target = folder / NVRAM_COPY
    qemu_img.convert(files.nvram, target, DiskFormat.RAW, cancel=cancel)
    return target


def copy_tpm(spec: MachineSpec, files: MachineFiles, folder: Path) -> tuple[Path, ...]:
    """swtpm's state files copied into `folder`/tpm (none for a machine without a TPM, or one
    whose TPM has never run: swtpm makes its state at the first start)."""
    if not spec.firmware.tpm or not files.tpm_state.is_dir():
        return ()
    names = sorted(p.name for p in files.tpm_state.iterdir() if TPM_STATE_FILE.match(p.name))
    if not names:
        return ()
    target = folder / TPM_COPY
    target.mkdir(mode=0o700)
    copied = []
    for name in names:
        data = _read_state(files.tpm_state / name, MAX_TPM_FILE_BYTES)
        if data is None:
            continue  # swtpm removed it meanwhile (a volatile state consumed at start)
        _write_private(target / name, data)
        copied.append(target / name)
    return tuple(copied)


def put(store: MachineStore, qemu_img: QemuImg, files: MachineFiles, state: FirmwareState,
        cancel: CancelToken) -> tuple[str, ...]:
    """Give an off machine the state (see FirmwareStateBackend.put_firmware_state); what it
    could not take, in words. The caller holds the machine's lock."""
    spec = store.spec(files)
    power = store.state(files)
    if power not in (PowerState.OFF, PowerState.ABORTED):
        raise InvalidState(f"{spec.name} is {power.value}; its UEFI variables and TPM state "
                           "are only replaced while it is off")
    if snapshots.load(files, qemu_img).tree():
        # The variable store holds each snapshot's copy of itself (savevm): a new store
        # would leave those snapshots without theirs.
        raise InvalidState(f"{spec.name} has snapshots; its UEFI variables cannot be "
                           "replaced under them")
    recover(files)
    left: list[str] = []
    tag = secrets.token_hex(4)
    staged_nvram: Path | None = None
    staged_tpm: Path | None = None
    try:
        if state.nvram is not None:
            staged_nvram, why = _stage_nvram(qemu_img, files, spec, state.nvram, tag=tag,
                                             cancel=cancel)
            if why:
                left.append(why)
        if state.tpm:
            if spec.firmware.tpm:
                staged_tpm = _stage_tpm(files, state.tpm, tag)
            else:
                left.append(f"The TPM state stays behind: {spec.name} has no TPM")
        cancel.raise_if_cancelled()
        _put_in(files, staged_nvram, staged_tpm, tag)
    finally:  # whatever is still staged was not put in
        if staged_nvram is not None:
            staged_nvram.unlink(missing_ok=True)
        if staged_tpm is not None:
            shutil.rmtree(staged_tpm, ignore_errors=True)
    return tuple(left)


def _put_in(files: MachineFiles, nvram: Path | None, tpm: Path | None, tag: str) -> None:
    """The staged store and TPM folder renamed into place, both or neither.

    A journal (`.firmware-restore-<tag>`, listing the places and whether the machine had its
    own) is written before the first rename; the machine's own store and TPM folder are
    renamed aside, not overwritten. A failure rolls back here; a kill leaves the journal, and
    `recover` rolls back under the machine's lock before the next start, put, backup, clone
    or new store. Once both are in, the journal is renamed `….done` (the commit), what was
    put aside is removed, and the journal last.
    """
    places = [place for place, new in ((files.nvram, nvram), (files.tpm_state, tpm))
              if new is not None]
    journal = _journal(files, tag)
    _write_private(journal, json.dumps({p.name: p.exists() or p.is_symlink()
                                        for p in places}).encode("ascii"))
    try:
        for place, new in ((files.nvram, nvram), (files.tpm_state, tpm)):
            if new is None:
                continue
            if place.exists() or place.is_symlink():
                place.rename(_aside(place, tag))
            new.rename(place)
    except BaseException:
        _roll_back(files, journal)
        raise
    done = journal.with_name(journal.name + DONE)
    journal.rename(done)  # the commit: from here on a kill finishes the restore, not undoes it
    for place in places:
        _remove(_aside(place, tag))
    done.unlink()


def recover(files: MachineFiles) -> None:
    """Roll back every restore of firmware state a kill left unfinished (its journal is
    still there), newest first: each place gets the machine's own copy back, or none if it
    had none. Else the next start would make a fresh store, swtpm a new, empty TPM, or keep
    half of a restore. Then what such restores left without a journal goes. The caller
    holds the machine's lock."""
    journals = sorted(files.folder.glob(f"{JOURNAL}*"), key=lambda p: p.stat().st_mtime,
                      reverse=True)
    for journal in journals:
        if journal.name.endswith(DONE):
            journal.unlink()  # committed: what it left aside is removed below
        else:
            _roll_back(files, journal)
    # Without a journal: staged copies never put in, and copies put aside by a restore that
    # finished (it was killed while removing them). Both hold TPM secrets; neither is the
    # machine's state any more.
    for place in (files.nvram, files.tpm_state):
        for left in place.parent.glob(f".{place.name}.*"):
            if ".restoring-" in left.name or ".before-restore-" in left.name:
                _remove(left)


def _roll_back(files: MachineFiles, journal: Path) -> None:
    """Undo the restore `journal` records (see _put_in), then remove the journal."""
    tag = journal.name.removeprefix(JOURNAL)
    try:
        had_own = json.loads(journal.read_text(encoding="ascii"))
    except (OSError, ValueError):
        had_own = {}  # killed while writing it: no rename had happened yet
    for place in (files.nvram, files.tpm_state):
        if place.name not in had_own:
            continue
        aside = _aside(place, tag)
        if had_own[place.name] and not (aside.exists() or aside.is_symlink()):
            continue  # never put aside: the place still holds the machine's own
        _remove(place)  # the restore's, if it got in
        if had_own[place.name]:
            aside.rename(place)
    for staged in files.folder.glob(f".*.restoring-{tag}"):
        _remove(staged)
    journal.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _journal(files: MachineFiles, tag: str) -> Path:
    return files.folder / f"{JOURNAL}{tag}"


def _aside(place: Path, tag: str) -> Path:
    """Where `place` waits while a restore puts the new one in."""
    return place.with_name(f".{place.name}.before-restore-{tag}")


def _stage_nvram(qemu_img: QemuImg, files: MachineFiles, spec: MachineSpec, source: Path, *,
                 tag: str, cancel: CancelToken) -> tuple[Path | None, str]:
    """The store as the machine's qcow2, written beside its own (None and why when the
    machine cannot take it)."""
    if spec.firmware.kind is not Firmware.UEFI:
        return None, f"The UEFI variables stay behind: {spec.name} boots with BIOS"
    size = _plain_size(source, MAX_NVRAM_BYTES)
    if files.nvram.is_file():
        # The firmware this host boots the machine with reads a store of its own size only
        # (OVMF's 2 MiB builds: 128 KiB, 4 MiB builds: 528 KiB).
        wanted = qemu_img.info(files.nvram).virtual_size
        if wanted != size:
            return None, (f"The UEFI variables stay behind: the backup's store is {size} "
                          f"bytes, the UEFI firmware here uses {wanted}-byte stores (another "
                          f"OVMF build); {spec.name} keeps the variables it has")
    staged = files.folder / f".{files.nvram.name}.restoring-{tag}"
    # Given as raw, never probed: the set's file is read as the bytes it is.
    qemu_img.convert(source, staged, DiskFormat.QCOW2, source_format=DiskFormat.RAW,
                     cancel=cancel)
    return staged, ""


def _stage_tpm(files: MachineFiles, sources: tuple[Path, ...], tag: str) -> Path:
    """swtpm's state folder, written beside the machine's own, private to this user."""
    names = [p.name for p in sources]
    bad = [n for n in names if not TPM_STATE_FILE.match(n)]
    if bad or len(set(names)) != len(names):
        raise BackendError(f"The TPM state holds {bad[0] if bad else 'a file twice'!r}, "
                           "which is not a state file swtpm writes")
    staged = files.folder / f".{files.tpm_state.name}.restoring-{tag}"
    staged.mkdir(mode=0o700)
    try:
        for source in sources:
            data = _read_state(source, MAX_TPM_FILE_BYTES)
            if data is None:
                raise BackendError(f"The TPM state file {source} is gone")
            _write_private(staged / source.name, data)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged


def _plain_size(path: Path, limit: int) -> int:
    """The size of a regular file (not a link) of 1 to `limit` bytes, else BackendError."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= limit:
        raise BackendError(f"{path} is not a plain file of 1 to {limit} bytes")
    return info.st_size


def _read_state(path: Path, limit: int) -> bytes | None:
    """A state file's bytes (a regular file, not through a link, at most `limit`; a FIFO put
    there does not block); None when it is gone."""
    try:
        return read_regular(path, limit)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise BackendError(f"{path} is not a plain file of at most {limit} bytes "
                           f"({error.strerror})") from None


def _write_private(path: Path, data: bytes) -> None:
    """A new file only this user can read (the TPM's seeds are secrets), flushed to disk."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        with contextlib.suppress(OSError):
            os.fsync(file.fileno())
