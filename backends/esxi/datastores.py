"""Datastore files (beyond the module map): the datastores, the ISOs on one, and local ISOs
uploaded into its desktopvm-iso/ folder (HTTP PUT to /folder) so a CD/DVD can use them.

A CD/DVD on ESXi reads a file on a datastore (`[ds] path/x.iso`), never a file on this
computer. A spec that names a local ISO has it uploaded first; an ISO already in the folder
with the same name and size is used as it is, not sent again.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.esxi import tasks
from backends.esxi.placement import Datastore, Facts
from backends.esxi.session import Session, vim
from desktopvm.model import MachineSpec, Problem, Severity
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    InvalidSpec,
    OperationCancelled,
    Progress,
    no_progress,
)

log = logging.getLogger(__name__)
ISO_FOLDER = "desktopvm-iso"  # where uploaded ISOs go, on the machine's datastore
#: "[datastore] path": how vSphere names a file on a datastore (FileManager's datastore path).
DATASTORE_PATH = re.compile(r"^\[(?P<store>[^\]]+)\]\s*(?P<path>.*)$")
Browser = vim.host.DatastoreBrowser


@dataclass(frozen=True)
class DatastoreFile:
    """A file on a datastore: its datastore path and size."""

    path: str  # "[datastore1] desktopvm-iso/debian.iso"
    size_bytes: int


def is_datastore_path(text: str) -> bool:
    """Whether `text` names a file on a datastore rather than on this computer."""
    return DATASTORE_PATH.match(text) is not None


def split(path: str) -> tuple[str, str]:
    """A datastore path's datastore and its path inside (no leading slash)."""
    found = DATASTORE_PATH.match(path)
    if found is None:
        raise ValueError(f"{path!r} is not a datastore path ('[datastore] folder/file')")
    return found["store"], found["path"].strip().lstrip("/")


def datastores(facts: Facts) -> tuple[Datastore, ...]:
    """The accessible datastores of the host, the most free space first."""
    return tuple(sorted(facts.datastores, key=lambda s: -s.free_bytes))


def local_isos(spec: MachineSpec) -> Iterator[tuple[str, str]]:
    """(field, path) of each CD/DVD ISO in `spec` that is a file on this computer."""
    for ci, controller in enumerate(spec.storage):
        for oi, drive in enumerate(controller.optical):
            if drive.iso and not is_datastore_path(drive.iso):
                yield f"storage[{ci}].optical[{oi}].iso", drive.iso


def require_local_isos(spec: MachineSpec) -> None:
    """InvalidSpec naming each local ISO of `spec` that is not a file (checked before
    anything is made or sent)."""
    problems = [
        Problem(field=field, severity=Severity.ERROR,
                message=f"The ISO file {path} does not exist on this computer (a file on "
                        "the host is named '[datastore] folder/file.iso').")
        for field, path in local_isos(spec) if not Path(path).expanduser().is_file()]
    if problems:
        raise InvalidSpec(problems)


def list_isos(session: Session, facts: Facts, datastore: str = "") -> list[DatastoreFile]:
    """Every ISO on `datastore` (default: the one with the most free space), in every folder:
    one SearchDatastoreSubFolders_Task."""
    store = facts.datastore(datastore)
    spec = Browser.SearchSpec(
        query=[Browser.IsoImageQuery()], matchPattern=["*.iso", "*.ISO"],
        details=Browser.FileInfo.Details(fileSize=True, fileType=True))
    browser = session.properties(store.ref, ["browser"])["browser"]
    results = tasks.run_task(
        session, lambda si: Session.bind(si, vim.host.DatastoreBrowser, browser._moId)
        .SearchDatastoreSubFolders_Task(f"[{store.name}]", spec),
        progress=no_progress, cancel=CancelToken(), stage=f"Listing the ISOs on {store.name}")
    found = [file for result in results or () for file in _files(store.name, result)]
    return sorted(found, key=lambda f: f.path.lower())


def find(session: Session, facts: Facts, path: str) -> DatastoreFile | None:
    """The file at datastore path `path`, or None when it (or its folder) is not there."""
    store_name, inside = split(path)
    folder, _, name = inside.rpartition("/")
    store = facts.datastore(store_name)
    browser = session.properties(store.ref, ["browser"])["browser"]
    spec = Browser.SearchSpec(matchPattern=[name], details=Browser.FileInfo.Details(
        fileSize=True))
    where = f"[{store.name}] {folder}".rstrip()
    try:
        result = tasks.run_task(
            session, lambda si: Session.bind(si, vim.host.DatastoreBrowser, browser._moId)
            .SearchDatastore_Task(where, spec),
            progress=no_progress, cancel=CancelToken(), stage=f"Looking for {path}")
    except BackendError as error:
        if isinstance(error.__cause__, vim.fault.FileNotFound):
            return None  # the folder is not there yet
        raise
    return next((f for f in _files(store.name, result) if f.path == path), None)


def _files(store: str, result: Any) -> Iterator[DatastoreFile]:
    # The folder comes as "[ds] folder" from ESXi and "[ds]/folder" from vcsim 0.24.
    _, folder = split(str(result.folderPath or f"[{store}]"))
    folder = folder.strip("/")
    for file in result.file or ():
        if isinstance(file, Browser.FolderInfo):
            continue
        inside = f"{folder}/{file.path}" if folder else str(file.path)
        yield DatastoreFile(f"[{store}] {inside}", int(file.fileSize or 0))


def upload(session: Session, facts: Facts, local: Path, datastore: str, *,
           progress: Progress, cancel: CancelToken, folder: str = ISO_FOLDER) -> str:
    """The datastore path of `local` in `folder` on `datastore`, uploaded unless a file of the
    same name and size is there already. A failed or cancelled upload deletes what reached
    the datastore; a complete one stays (other machines may use it at once)."""
    local = local.expanduser()
    if not local.is_file():
        raise BackendError(f"The ISO file {local} does not exist on this computer")
    size = local.stat().st_size
    there_path = target(str(local), datastore, folder)
    there = find(session, facts, there_path)
    if there is not None and there.size_bytes == size:
        progress(1.0, f"{local.name} is already on {datastore} ({folder}/): using it, "
                      "not uploading again")
        return there_path
    cancel.raise_if_cancelled()
    _make_folder(session, facts, f"[{datastore}] {folder}")
    query = urllib.parse.urlencode({"dcPath": facts.datacenter, "dsName": datastore})
    url = f"https://*/folder/{urllib.parse.quote(f'{folder}/{local.name}')}?{query}"
    done = 0
    stage = f"Uploading {local.name} to {datastore}"

    def sent(count: int) -> None:
        nonlocal done
        done += count
        progress(done / max(1, size), f"{stage} ({_mib(done)} of {_mib(size)} MB)")

    progress(0.0, stage)
    try:
        with local.open("rb") as source:
            session.upload(url, source, size, sent=sent, cancel=cancel, method="PUT",
                           content_type="application/octet-stream")
    except BaseException as error:
        _delete(session, facts, there_path)
        if isinstance(error, OperationCancelled):
            raise OperationCancelled(f"{stage}: cancelled; the partial file was deleted",
                                     error.details) from error
        raise
    progress(1.0, f"Uploaded {local.name} to {datastore}")
    return there_path


def target(local: str, datastore: str, folder: str = ISO_FOLDER) -> str:
    """Where upload() puts the local file `local` on `datastore`."""
    return f"[{datastore}] {folder}/{Path(local).expanduser().name}"


def on_datastore(spec: MachineSpec, datastore: str) -> MachineSpec:
    """`spec` with each local ISO named by the datastore path upload() gives it: the plan
    is made (and refused, if it must be) before anything is sent."""
    storage = tuple(controller.model_copy(update={"optical": tuple(
        drive.model_copy(update={"iso": target(drive.iso, datastore)})
        if drive.iso and not is_datastore_path(drive.iso) else drive
        for drive in controller.optical)}) for controller in spec.storage)
    return spec.model_copy(update={"storage": storage})


def upload_local_isos(session: Session, facts: Facts, spec: MachineSpec, datastore: str, *,
                      progress: Progress, cancel: CancelToken) -> None:
    """Upload each local ISO of `spec` to `datastore` (once each) where on_datastore() says."""
    for path in dict.fromkeys(path for _, path in local_isos(spec)):
        upload(session, facts, Path(path), datastore, progress=progress, cancel=cancel)


def _mib(count: int) -> str:
    return f"{count / 2**20:,.0f}"


def _make_folder(session: Session, facts: Facts, path: str) -> None:
    """MakeDirectory, parents included; a folder already there is what was wanted. (ESXi's
    /folder PUT is not documented to create folders; public reports differ by version.)"""
    try:
        session.run(lambda si: session.content(si).fileManager.MakeDirectory(
            name=path, datacenter=facts.datacenter_ref, createParentDirectories=True),
            f"Making the folder {path}")
    except BackendError as error:
        if not isinstance(error.__cause__, vim.fault.FileAlreadyExists):
            raise


def _delete(session: Session, facts: Facts, path: str) -> None:
    """Delete a partial upload; one that never reached the datastore is already gone. A
    failure here must not hide why the upload ended: it is logged, not raised."""
    try:
        tasks.run_task(session, lambda si: session.content(si).fileManager
                       .DeleteDatastoreFile_Task(path, facts.datacenter_ref),
                       progress=no_progress, cancel=CancelToken(),
                       stage=f"Deleting the partial upload {path}")
    except BackendError as error:
        if not isinstance(error.__cause__, vim.fault.FileNotFound):
            log.warning("could not delete the partial upload %s: %s", path, error)
