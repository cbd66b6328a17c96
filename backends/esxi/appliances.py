"""OVF/OVA import through an HttpNfcLease (disks uploaded with progress and cancel); export
is not built yet, and says so.

Import: the package is checked first (desktopvm.ovf.check_appliance: every disk a
self-contained image of its declared format, nothing outside the package); the host turns the
descriptor into an import spec (CreateImportSpec), ImportVApp makes the machine and a lease,
each disk is uploaded to the URL the lease gives, the lease hears the progress, and Complete
ends it. Anything that fails or is cancelled aborts the lease, which removes what it made.
"""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from backends.esxi import tasks
from backends.esxi.placement import Facts
from backends.esxi.session import Session, vim
from desktopvm.ovf import OvfError, check_appliance
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    OperationCancelled,
    Progress,
    UnsupportedOperation,
)

EXPORT_MISSING = ("Export to OVA/OVF from ESXi is not in DesktopVM yet; use the host's web "
                  "client (Export) or VMware's ovftool meanwhile")
LEASE_POLL = 0.1  # seconds between reads of a lease that is still initialising
KEEPALIVE_STEP = 0.05  # tell the lease of progress at least at each 5 % (it times out unheard)


def unsupported() -> UnsupportedOperation:
    """What export() says."""
    return UnsupportedOperation(EXPORT_MISSING)


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
            file = folder / href
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
                       "Importing")


def _ready(session: Session, lease: Any, cancel: CancelToken) -> Any:
    """The lease's info once it is ready (its error as a BackendError)."""
    while True:
        values = session.properties(lease, ["state", "error"])
        state = values.get("state")
        if state == vim.HttpNfcLease.State.ready:
            return session.properties(lease, ["info"])["info"]
        if state == vim.HttpNfcLease.State.error:
            error = values.get("error")
            raise CommandFailed(f"The host could not start the import: "
                                f"{getattr(error, 'msg', error)}")
        if cancel.wait(LEASE_POLL):
            raise OperationCancelled("Import cancelled")


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
