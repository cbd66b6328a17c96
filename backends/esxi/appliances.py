"""OVF/OVA export and import through an HttpNfcLease (disks downloaded or uploaded with
progress, keep-alive and cancel).

Export: ExportVm gives a lease whose device URLs serve each disk (ESXi streams them as
stream-optimized VMDKs); each is downloaded into the package, the lease hears the progress
(at each 5 % and at least once a minute: it ends a lease it does not hear from), Complete ends
it; the descriptor is DesktopVM's own OVF mapping of the machine's spec (as the other
backends write it) and a SHA-256 manifest lists every file. Failure or Cancel aborts the
lease and removes every file written. Backups download a lease's disks the same way
(`download_disks`: ExportVm's, or a temporary snapshot's ExportSnapshot; backup.py).

Import: the package is checked first (desktopvm.ovf.check_appliance: every disk a
self-contained image of its declared format, nothing outside the package); the host turns the
descriptor into an import spec (CreateImportSpec), ImportVApp makes the machine and a lease,
each disk is uploaded to the URL the lease gives, the lease hears the progress, and Complete
ends it. Anything that fails or is cancelled aborts the lease, which removes what it made.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from backends.esxi import inventory, tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from desktopvm.ovf import OvfError, check_appliance, check_href
from desktopvm.ovf.manifest import format_manifest
from desktopvm.ovf.ova import write_ova
from desktopvm.ovf.writer import ExportDisk, write_ovf
from desktopvm.paths import atomic_write_bytes
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
    scaled_progress,
)
from desktopvm.protocol.states import Operation, require

FORMATS = (".ova", ".ovf")
LEASE_POLL = 0.1  # seconds between reads of a lease that is still initialising
KEEPALIVE_STEP = 0.05  # tell the lease of progress at least at each 5 % (it times out unheard)
KEEPALIVE_SECONDS = 60.0  # ... and at least this often: ESXi's lease timeout is 5 minutes
DOWNLOAD_SHARE = 0.8  # of the progress bar; writing the package is the rest


def export_machine(session: Session, machine_id: str, path: Path, *, backend: str,
                   progress: Progress, cancel: CancelToken) -> None:
    """Write `path` (.ova, or .ovf with its disks and manifest beside it) from a machine
    that is off; nothing is left behind on failure or cancel."""
    if path.suffix.lower() not in FORMATS:
        raise UnsupportedOperation(f"ESXi machines export as .ova or .ovf, not {path.name}")
    target = path.expanduser().resolve()
    if target.exists():
        raise CommandFailed(f"{target} already exists; choose another file name")
    info, _ = inventory.machine(session, machine_id, backend)
    require(Operation.EXPORT, info.state, info.spec.name)
    cancel.raise_if_cancelled()
    ova = target.suffix.lower() == ".ova"
    work = target.parent / f".{target.stem}.export" if ova else target.parent
    written: list[Path] = []
    if ova:
        work.mkdir(parents=True)
    try:
        disks = download_disks(session, lambda si: inventory.vm(si, machine_id).ExportVm(),
                               work / target.stem, doing=f"Exporting {info.spec.name}",
                               progress=scaled_progress(progress, 0.0, DOWNLOAD_SHARE),
                               cancel=cancel)
        written.extend(disks)
        sizes = [disk.size_bytes for _, disk in info.spec.all_disks()]
        if len(sizes) != len(disks):
            raise CommandFailed(f"The host exported {len(disks)} disks of "
                                f"{info.spec.name}, which has {len(sizes)}")
        exported = [ExportDisk(href=file.name, capacity_bytes=size,
                               file_size=file.stat().st_size)
                    for file, size in zip(disks, sizes, strict=True)]
        descriptor = write_ovf(info.spec, exported, product="DesktopVM (VMware ESXi)")
        _package(target, descriptor, disks, written,
                 progress=scaled_progress(progress, DOWNLOAD_SHARE, 1 - DOWNLOAD_SHARE),
                 cancel=cancel)
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        if ova:
            shutil.rmtree(work, ignore_errors=True)
        raise
    if ova:
        shutil.rmtree(work, ignore_errors=True)
    progress(1.0, f"Exported {info.spec.name}")


def download_disks(session: Session, start: Callable[[Any], Any], stem: Path, *, doing: str,
                   progress: Progress, cancel: CancelToken) -> list[Path]:
    """The disks of the export lease `start(si)` opens (ExportVm, or a snapshot's
    ExportSnapshot), each downloaded as `stem`-diskN.vmdk in the lease's order; the lease
    hears the progress and is completed. Failure or Cancel aborts the lease and removes every
    file written."""
    written: list[Path] = []
    try:
        lease = session.run(start, doing)
        try:
            ready = _ready(session, lease, cancel)
            files = _download(session, lease, ready, stem, written, progress=progress,
                              cancel=cancel)
            cancel.raise_if_cancelled()
            _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseComplete())
        except BaseException:
            with contextlib.suppress(BackendError):
                _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseAbort())
            raise
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    return files


def _download(session: Session, lease: Any, ready: Any, stem: Path, written: list[Path], *,
              progress: Progress, cancel: CancelToken) -> list[Path]:
    """Each disk the lease serves, downloaded as `stem`-diskN.vmdk (in the lease's order, which
    is the machine's device order); the lease hears how far it is."""
    urls = [url for url in ready.deviceUrl or () if url.disk]
    total = max(1, sum(int(url.fileSize or 0) for url in urls))  # 0 when the host omits it
    done = 0
    told, told_at = 0.0, time.monotonic()
    files: list[Path] = []
    for index, url in enumerate(urls, start=1):
        file = stem.parent / f"{stem.name}-disk{index}.vmdk"

        def received(count: int, name: str = file.name) -> None:
            nonlocal done, told, told_at
            done += count
            fraction = min(1.0, done / total)
            progress(fraction, f"Downloading {name}")
            now = time.monotonic()
            if fraction - told >= KEEPALIVE_STEP or now - told_at >= KEEPALIVE_SECONDS:
                told, told_at = fraction, now
                percent = min(99, int(fraction * 100))
                _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseProgress(percent))

        with file.open("xb") as out:  # a file already there is not ours: never removed
            written.append(file)
            session.download(str(url.url), out, received=received, cancel=cancel)
        files.append(file)
    return files


def _package(target: Path, descriptor: bytes, disks: list[Path], written: list[Path], *,
             progress: Progress, cancel: CancelToken) -> None:
    """The OVA (atomic), or the OVF descriptor and its manifest beside the disks."""
    if target.suffix.lower() == ".ova":
        write_ova(target, target.stem + ".ovf", descriptor, disks, progress=progress,
                  cancel=cancel)
        return
    digests = {target.name: hashlib.sha256(descriptor).hexdigest()}
    for disk in disks:
        cancel.raise_if_cancelled()
        digest = hashlib.sha256()
        with disk.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        digests[disk.name] = digest.hexdigest()
    manifest = target.with_suffix(".mf")
    for file, data in ((target, descriptor),
                       (manifest, format_manifest(digests).encode("utf-8"))):
        written.append(file)
        atomic_write_bytes(file, data)


@dataclass
class Package:
    """An OVA or an OVF folder: its descriptor and a way to read each file it names."""

    descriptor: str
    open: Callable[[str], tuple[IO[bytes], int]]  # href -> (stream, size)


@contextlib.contextmanager
def package(path: Path) -> Iterator[Package]:
    """The package at `path` (.ova or .ovf), read in place (an OVA is not unpacked)."""
    if path.suffix.lower() != ".ova":
        folder = path.parent

        def from_folder(href: str) -> tuple[IO[bytes], int]:
            # The host names the file to upload: only a plain member of the package folder
            # (a hostile or impersonated host could name ../../.ssh/id_rsa).
            file = folder / check_href(href, path.name)
            return file.open("rb"), file.stat().st_size

        yield Package(path.read_text(encoding="utf-8"), from_folder)
        return
    with tarfile.open(path, "r:") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        name = next(n for n in members if n.lower().endswith(".ovf"))
        prefix = name.rpartition("/")[0]

        def read(member: str) -> tuple[IO[bytes], int]:
            info = members[member]
            stream = tar.extractfile(info)
            if stream is None:
                raise OvfError(f"cannot read {member} in the package")
            return stream, info.size

        def from_tar(href: str) -> tuple[IO[bytes], int]:
            return read(f"{prefix}/{href}" if prefix else href)

        descriptor, _ = read(name)
        yield Package(descriptor.read().decode("utf-8"), from_tar)


def import_machine(session: Session, facts: Facts, path: Path, *, name: str,
                   progress: Progress, cancel: CancelToken) -> str:
    """The package at `path` as a new machine (named `name`, or as the package names it)."""
    try:
        appliance = check_appliance(path)
    except OvfError as error:
        raise BackendError(f"{path.name} cannot be imported: {error}") from error
    cancel.raise_if_cancelled()
    target = name or appliance.spec.name
    store = facts.datastore()
    with package(path) as found:
        params = vim.OvfManager.CreateImportSpecParams(entityName=target,
                                                       diskProvisioning="thin")
        spec = session.run(lambda si: session.content(si).ovfManager.CreateImportSpec(
            found.descriptor, facts.pool, store.ref, params), "Reading the package")
        if spec.error:
            raise CommandFailed(f"{session.host.address} cannot import {path.name}: "
                                f"{spec.error[0].msg}",
                                details="\n".join(str(e.msg) for e in spec.error))
        for warning in spec.warning or ():
            progress(None, f"Warning: {warning.msg}")
        lease = session.run(lambda si: Session.bind(si, vim.ResourcePool, facts.pool._moId)
                            .ImportVApp(spec.importSpec,
                                        Session.bind(si, vim.Folder, facts.folder._moId),
                                        facts.host), f"Importing {target}")
        info = None
        try:
            info = _ready(session, lease, cancel)
            _upload(session, lease, info, spec.fileItem or (), found,
                    progress=progress, cancel=cancel, target=target)
            cancel.raise_if_cancelled()  # until Complete, the abort still removes it all
            _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseComplete())
        except BaseException:
            with contextlib.suppress(BackendError):
                _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseAbort())
            if info is not None:
                _remove_leftover(session, str(info.entity._moId))
            raise
    return str(info.entity._moId)


def _remove_leftover(session: Session, machine_id: str) -> None:
    """The machine an aborted import made, if the host kept it (ESXi removes it with the
    lease; vcsim 0.24 does not), destroyed with its files."""
    with contextlib.suppress(BackendError):  # MachineNotFound: the host removed it already
        tasks.run_task(session, lambda si: Session.bind(si, vim.VirtualMachine, machine_id)
                       .Destroy_Task(), progress=lambda *_: None, cancel=CancelToken(),
                       stage="Removing the unfinished import")


def _lease_call(session: Session, lease: Any, call: Callable[[Any], Any]) -> Any:
    return session.run(lambda si: call(Session.bind(si, vim.HttpNfcLease, lease._moId)),
                       "Transferring the package")


def _ready(session: Session, lease: Any, cancel: CancelToken) -> Any:
    """The lease's info once it is ready (its error as a BackendError)."""
    while True:
        values = session.properties(lease, ["state", "error"])
        state = values.get("state")
        if state == vim.HttpNfcLease.State.ready:
            return session.properties(lease, ["info"])["info"]
        if state == vim.HttpNfcLease.State.error:
            error = values.get("error")
            raise CommandFailed(f"The host could not start the transfer: "
                                f"{getattr(error, 'msg', error)}")
        if cancel.wait(LEASE_POLL):
            raise OperationCancelled("Cancelled")


def _upload(session: Session, lease: Any, info: Any, items: Any, found: Package, *,
            progress: Progress, cancel: CancelToken, target: str) -> None:
    urls = {url.importKey: url.url for url in info.deviceUrl or ()}
    opened = [(item, *found.open(item.path)) for item in items]
    total = max(1, sum(size for _, _, size in opened))
    done = 0
    told = 0.0
    for item, stream, size in opened:
        url = urls.get(item.deviceId)
        if url is None:
            raise CommandFailed(f"The host gave no upload address for {item.path}")

        def sent(count: int, name: str = item.path) -> None:
            nonlocal done, told
            done += count
            fraction = done / total
            progress(fraction, f"Uploading {name}")
            if fraction - told >= KEEPALIVE_STEP:
                told = fraction
                percent = min(99, int(fraction * 100))
                _lease_call(session, lease, lambda remote: remote.HttpNfcLeaseProgress(percent))

        with stream:
            session.upload(url, stream, size, sent=sent, cancel=cancel)
    progress(1.0, f"Imported {target}")
