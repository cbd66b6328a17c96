"""Datastore files (beyond the module map): the datastores, the ISOs on one, local ISOs
uploaded into its desktopvm-iso/ folder (HTTP PUT to /folder) so a CD/DVD can use them, and
the /folder URL and delete every ESXi module uses for a datastore file.

A CD/DVD on ESXi reads a file on a datastore (`[ds] path/x.iso`), never a file on this
computer. A spec that names a local ISO has it uploaded first; an ISO already in the folder
with the same name and size is used as it is, not sent again; a different file of that name
is never overwritten (the upload takes a name carrying its size).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
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
    CommandFailed,
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


def folder_url(datacenter: str, path: str) -> str:
    """The /folder URL of datastore path `path` ("Datastore Access (/folder)", vSphere Web
    Services SDK Programming Guide; FileManager's URL form `/folder/PATH?dcPath=…&dsName=…`),
    its host `*`: the one the session talks to (Session.upload/download put it in)."""
    store, inside = split(path)
    query = urllib.parse.urlencode({"dcPath": datacenter, "dsName": store})
    return f"https://*/folder/{urllib.parse.quote(inside)}?{query}"


def delete(session: Session, facts: Facts, path: str, stage: str = "") -> None:
    """DeleteDatastoreFile_Task on `path`; a file already gone is what was wanted."""
    try:
        tasks.run_task(session, lambda si: session.content(si).fileManager
                       .DeleteDatastoreFile_Task(path, facts.datacenter_ref),
                       progress=no_progress, cancel=CancelToken(),
                       stage=stage or f"Deleting {path}")
    except BackendError as error:
        if not isinstance(error.__cause__, vim.fault.FileNotFound):
            raise


def folder_files(session: Session, facts: Facts, datastore: str, folder: str) -> dict[str, int]:
    """The files directly in `folder` on `datastore` by name, with their sizes (empty when the
    folder is not there). Every name is asked for (`*`) and compared here: a name is never
    made a `matchPattern`, where `[`, `*` and `?` are wildcards."""
    store = facts.datastore(datastore)
    browser = session.properties(store.ref, ["browser"])["browser"]
    spec = Browser.SearchSpec(matchPattern=["*"], details=Browser.FileInfo.Details(
        fileSize=True))
    where = f"[{store.name}] {folder}".rstrip()
    try:
        result = tasks.run_task(
            session, lambda si: Session.bind(si, vim.host.DatastoreBrowser, browser._moId)
            .SearchDatastore_Task(where, spec),
            progress=no_progress, cancel=CancelToken(), stage=f"Looking in {where}")
    except BackendError as error:
        if isinstance(error.__cause__, vim.fault.FileNotFound):
            return {}  # the folder is not there yet
        raise
    return {split(f.path)[1].rpartition("/")[2]: f.size_bytes
            for f in _files(store.name, result)}


def _files(store: str, result: Any) -> Iterator[DatastoreFile]:
    # The folder comes as "[ds] folder" from ESXi and "[ds]/folder" from vcsim 0.24.
    _, folder = split(str(result.folderPath or f"[{store}]"))
    folder = folder.strip("/")
    for file in result.file or ():
        if isinstance(file, Browser.FolderInfo):
            continue
        inside = f"{folder}/{file.path}" if folder else str(file.path)
        yield DatastoreFile(f"[{store}] {inside}", int(file.fileSize or 0))


def names(local_name: str, size: int) -> tuple[str, str]:
    """The names an upload of `local_name` (`size` bytes) may take, in order: its own, then
    one carrying its size for when a different file holds its own ("ubuntu-123456.iso")."""
    stem, dot, suffix = local_name.rpartition(".")
    if not stem:  # no suffix (or a name starting with its only dot)
        return local_name, f"{local_name}-{size}"
    return local_name, f"{stem}-{size}{dot}{suffix}"


def upload(session: Session, facts: Facts, local: Path, datastore: str, *,
           progress: Progress, cancel: CancelToken, folder: str = ISO_FOLDER) -> str:
    """The datastore path of `local` in `folder` on `datastore`: a file there of its name (or
    of names()'s second name) and size is used as it is; else it is uploaded.

    Nothing is ever overwritten: the bytes go to a temporary name in the folder, which is
    then moved to the first of names() that is free (MoveDatastoreFile_Task, force=False:
    "if true, overwrite any identically named file at the destination", FileManager, vSphere
    Web Services API). A failed or cancelled upload deletes only its temporary file."""
    local = local.expanduser()
    if not local.is_file():
        raise BackendError(f"The ISO file {local} does not exist on this computer")
    size = local.stat().st_size
    there = folder_files(session, facts, datastore, folder)
    for name in names(local.name, size):
        if there.get(name) == size:
            progress(1.0, f"{local.name} is already on {datastore} ({folder}/{name}): using "
                          "it, not uploading again")
            return f"[{datastore}] {folder}/{name}"
        if name not in there:
            break
    else:
        raise _both_taken(local.name, size, datastore, folder)
    _require_room(session, facts, datastore, local.name, size)
    cancel.raise_if_cancelled()
    _make_folder(session, facts, f"[{datastore}] {folder}")
    partial = f"[{datastore}] {folder}/.{local.name}.partial-{uuid.uuid4().hex[:12]}"
    done = 0
    stage = f"Uploading {local.name} to {datastore}"

    def sent(count: int) -> None:
        nonlocal done
        done += count
        progress(done / max(1, size), f"{stage} ({_mib(done)} of {_mib(size)} MB)")

    progress(0.0, stage)
    try:
        with local.open("rb") as source:
            session.upload(folder_url(facts.datacenter, partial), source, size, sent=sent,
                           cancel=cancel, method="PUT",
                           content_type="application/octet-stream")
        final = _settle(session, facts, partial, local_name=local.name, size=size)
    except BaseException as error:
        _delete_partial(session, facts, partial)
        if isinstance(error, OperationCancelled):
            raise OperationCancelled(f"{stage}: cancelled; the partial file was deleted",
                                     error.details) from error
        raise
    progress(1.0, f"Uploaded {local.name} to {datastore} ({final})")
    return final


def _settle(session: Session, facts: Facts, partial: str, *, local_name: str,
            size: int) -> str:
    """Move the finished `partial` to the first free name of names() in its folder; a name
    another upload of the same size took meanwhile is used (and `partial` deleted)."""
    datastore, inside = split(partial)
    folder = inside.rpartition("/")[0]
    for name in names(local_name, size):
        path = f"[{datastore}] {folder}/{name}"
        try:
            tasks.run_task(session, lambda si, p=path: session.content(si).fileManager
                           .MoveDatastoreFile_Task(
                               sourceName=partial, sourceDatacenter=facts.datacenter_ref,
                               destinationName=p, destinationDatacenter=facts.datacenter_ref,
                               force=False),
                           progress=no_progress, cancel=CancelToken(),
                           stage=f"Naming the upload {name}")
            return path
        except BackendError as error:
            if not isinstance(error.__cause__, vim.fault.FileAlreadyExists):
                raise
        if folder_files(session, facts, datastore, folder).get(name) == size:
            _delete_partial(session, facts, partial)  # the same file, sent by another upload
            return path
    raise _both_taken(local_name, size, datastore, folder)


def _both_taken(local_name: str, size: int, datastore: str, folder: str) -> CommandFailed:
    first, second = names(local_name, size)
    return CommandFailed(
        f"{folder}/{first} and {folder}/{second} on {datastore} are other files: rename "
        f"{local_name} on this computer, or choose the one on the host")


def _require_room(session: Session, facts: Facts, datastore: str, local_name: str,
                 size: int) -> None:
    """Refuse, in words, an upload bigger than the datastore's free space (read now, not the
    cached facts: other uploads and machines use it too)."""
    store = facts.datastore(datastore)
    free = int(session.properties(store.ref, ["summary.freeSpace"]).get("summary.freeSpace")
               or 0)
    if free < size:
        raise CommandFailed(f"{local_name} needs {_gb(size)} GB; datastore {datastore} has "
                            f"{_gb(free)} GB free", details=f"{size} bytes; {free} bytes free")


def target(local: str, datastore: str, folder: str = ISO_FOLDER) -> str:
    """Where upload() puts the local file `local` on `datastore` unless a different file
    holds that name (names())."""
    return f"[{datastore}] {folder}/{Path(local).expanduser().name}"


def on_datastore(spec: MachineSpec, datastore: str,
                 placed: Mapping[str, str] | None = None) -> MachineSpec:
    """`spec` with each local ISO named by its datastore path: where upload() `placed` it, else
    where it would go by its own name (so the plan is made, and refused if it must be,
    before anything is sent)."""
    placed = placed or {}
    storage = tuple(controller.model_copy(update={"optical": tuple(
        drive.model_copy(update={"iso": placed.get(drive.iso) or target(drive.iso, datastore)})
        if drive.iso and not is_datastore_path(drive.iso) else drive
        for drive in controller.optical)}) for controller in spec.storage)
    return spec.model_copy(update={"storage": storage})


def upload_local_isos(session: Session, facts: Facts, spec: MachineSpec, datastore: str, *,
                      progress: Progress, cancel: CancelToken) -> dict[str, str]:
    """Upload each local ISO of `spec` to `datastore` (once each); where each went, by its
    local path (for on_datastore)."""
    return {path: upload(session, facts, Path(path), datastore, progress=progress,
                         cancel=cancel)
            for path in dict.fromkeys(path for _, path in local_isos(spec))}


def uploaded_copy(spec: MachineSpec, local: Path) -> str:
    """The datastore path of the copy upload() made of `local` that a CD/DVD of `spec` reads
    (under either of names()'s names, in the upload folder); "" when no drive reads one."""
    size = local.stat().st_size if local.is_file() else -1
    wanted = {f"{ISO_FOLDER}/{name}" for name in names(local.name, size)}
    for controller in spec.storage:
        for drive in controller.optical:
            if is_datastore_path(drive.iso) and split(drive.iso)[1] in wanted:
                return drive.iso
    return ""


def delete_upload(session: Session, facts: Facts, path: str) -> None:
    """Delete a file upload() put in the upload folder (a seed disc's copy, which holds the
    answers); a path outside that folder is refused, so nothing else is ever deleted here."""
    _, inside = split(path)
    if inside.rpartition("/")[0] != ISO_FOLDER:
        raise ValueError(f"{path!r} is not in {ISO_FOLDER}/: not deleted")
    delete(session, facts, path, f"Deleting {path}")


def delete_uploads_of(session: Session, facts: Facts, local: Path) -> list[str]:
    """Delete what upload() made of `local` on any datastore (a file of one of names()'s
    names and its size in the upload folder): after a create that failed once its seed disc
    was sent. Only for files whose name is unique to one upload (seed discs); returns the
    datastore paths deleted."""
    size = local.stat().st_size
    gone = []
    for store in facts.datastores:
        there = folder_files(session, facts, store.name, ISO_FOLDER)
        for name in names(local.name, size):
            if there.get(name) == size:
                path = f"[{store.name}] {ISO_FOLDER}/{name}"
                delete_upload(session, facts, path)
                gone.append(path)
    return gone


def _mib(count: int) -> str:
    return f"{count / 2**20:,.0f}"


def _gb(count: int) -> str:
    return f"{count / 2**30:,.1f}"


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


def _delete_partial(session: Session, facts: Facts, path: str) -> None:
    """Delete an upload's temporary file (only ever that: never a file it did not make). A
    failure here must not hide why the upload ended: it is logged, not raised."""
    try:
        delete(session, facts, path, f"Deleting the partial upload {path}")
    except BackendError as error:
        log.warning("could not delete the partial upload %s: %s", path, error)
