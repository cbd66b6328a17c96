"""Files to and from a remote Hyper-V host through its PowerShell session (beyond the module map).

WinRM carries text only and DesktopVM cannot open the host's disks, so a file travels in
pieces inside ordinary requests: `read_file` and `write_file` move PIECE bytes each,
gzip-compressed (a disk image's empty stretches shrink to almost nothing) and base64-encoded.
Each piece is one round trip on the slow session, so the inventory is not held up. The whole
file is then checked by SHA-256 on both ends (Get-FileHash on the host). Folders are made by
`new_folder` with a random suffix and only those folders are ever removed; a copy never
overwrites a file and a failed or cancelled copy leaves no partial file behind.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import logging
import threading
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from backends.hyperv import plans
from backends.hyperv.parsers import as_int
from backends.hyperv.placement import folder_name
from backends.hyperv.plans import Call, random_suffix
from backends.hyperv.runner import Runner
from desktopvm.protocol import (
    BackendError,
    CancelToken,
    CommandFailed,
    ConnectionLost,
    InvalidState,
    OperationCancelled,
    Progress,
    TimedOut,
)
from desktopvm.units import format_size

log = logging.getLogger(__name__)

# Raw bytes per request. Base64 makes a piece at most ~0.7 MB of text, one request line that
# the channel sends in Send messages of winrm_transport.SEND_PIECE (so each fits WinRM's
# MaxEnvelopeSizekb), far below the 2 MB ConvertFrom-Json was limited to in PowerShell 4.
PIECE = 512 * 1024


def host_join(folder: str, name: str) -> str:
    """`name` inside the host's `folder`, in the host's own path form."""
    pure = PureWindowsPath if "\\" in folder or ":" in folder[:2] else PurePosixPath
    return str(pure(folder) / name)


def host_name(path: str) -> str:
    """The file name of a host path, in either form."""
    return (PureWindowsPath if "\\" in path else PurePosixPath)(path).name


def host_within(path: str, folder: str) -> bool:
    """Whether the host's `path` is a file directly inside `folder` (Windows case folded)."""
    pure = PureWindowsPath if "\\" in folder or ":" in folder[:2] else PurePosixPath
    inner, outer = pure(path), pure(folder)
    if ".." in inner.parts or not inner.name:
        return False
    fold = (lambda p: str(p).lower()) if pure is PureWindowsPath else str
    return fold(inner.parent) == fold(outer)


class HostFiles:
    """The copies to and from one host, and the folders made there for them."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._made: set[str] = set()
        self._placed: set[str] = set()  # files put into those folders
        self._lock = threading.Lock()

    def make_folder(self, stem: str, *, beside_disks: bool = True) -> str:
        """A new empty folder under the host's disk (or machine) folder; its host path."""
        facts = self.runner.facts()
        root = facts.disk_path if beside_disks else facts.vm_path
        if not root:
            raise InvalidState(f"{self.runner.host} did not say where it keeps its machines")
        wanted = host_join(root, f"{folder_name(stem)}-{random_suffix()}")
        result = self.runner.run(Call("new_folder", {"Path": wanted}), slow=True)
        made = str(result.get("Path") or wanted)
        with self._lock:
            self._made.add(made)
        return made

    def remove_folder(self, folder: str) -> None:
        """Remove a folder make_folder made (best effort, logged); others are refused."""
        with self._lock:
            if folder not in self._made:
                raise InvalidState(f"DesktopVM did not make {folder} on {self.runner.host}")
        try:
            self.runner.run(Call("remove_path", {"Path": folder}, timeout=plans.SLOW),
                            interruptible=False, slow=True)
        except BackendError as error:
            log.warning("could not remove %s on %s: %s", folder, self.runner.host,
                        error.summary)
            return
        with self._lock:
            self._made.discard(folder)

    def release(self, folder: str) -> None:
        """DesktopVM is done with `folder` (a restored machine's disks now live there): it
        stays, and is no longer written into, read from or removed through these copies."""
        with self._lock:
            self._made.discard(folder)
            self._placed = {p for p in self._placed if not host_within(p, folder)}

    def put(self, source: Path, folder: str, name: str, *, progress: Progress,
            cancel: CancelToken) -> str:
        """Copy `source` as `name` into `folder` (one make_folder made); its host path."""
        self._require_own(folder)
        target = host_join(folder, name)
        if not host_within(target, folder):
            raise InvalidState(f"{name!r} is not a plain file name")
        with self._lock:
            if target in self._placed:
                raise InvalidState(f"{name} was already copied into {folder}")
        size = source.stat().st_size
        digest = hashlib.sha256()
        offset, created = 0, False
        try:
            with source.open("rb") as stream:
                while True:
                    cancel.raise_if_cancelled()
                    data = stream.read(PIECE)
                    if offset and not data:
                        break
                    packed = base64.b64encode(gzip.compress(data, 1)).decode("ascii")
                    reply = self.runner.run(Call("write_file", {
                        "Path": target, "Offset": offset, "Data": packed},
                        timeout=plans.SLOW), cancel=cancel, slow=True)
                    # Only now is the file ours: the first piece refuses a file that exists.
                    created = True
                    offset += len(data)
                    digest.update(data)
                    if as_int(reply.get("Length")) != offset:
                        raise CommandFailed(f"The copy of {source.name} on {self.runner.host} "
                                            f"went out of step at {offset} bytes")
                    progress(offset / size if size else 1.0,
                             f"Copying {source.name} to {self.runner.host}: "
                             f"{format_size(offset)} of {format_size(size)}")
                    if not data:
                        break
            self._check(target, offset, digest.hexdigest(), f"the copy of {source.name}",
                        cancel)
        except BaseException as error:
            # A first piece the host answered with an error made no file (the script removes
            # what it created); one that got no answer may have made it, in our own folder.
            if created or not isinstance(error, BackendError) or \
                    isinstance(error, ConnectionLost | TimedOut | OperationCancelled):
                self._remove_partial(target)
            raise
        with self._lock:
            self._placed.add(target)
        return target

    def get(self, source: str, destination: Path, *, progress: Progress,
            cancel: CancelToken) -> None:
        """Copy the host's `source` (inside a folder make_folder made) to a new `destination`."""
        if not any(host_within(source, folder) for folder in self._folders()):
            raise InvalidState(f"DesktopVM did not make {source} on {self.runner.host}")
        name = host_name(source)
        digest = hashlib.sha256()
        offset, length = 0, -1
        try:
            out = destination.open("xb")
        except FileExistsError:
            raise InvalidState(f"{destination} exists already: it is not overwritten") from None
        try:
            with out:
                while offset != length:
                    cancel.raise_if_cancelled()
                    reply = self.runner.run(Call("read_file", {
                        "Path": source, "Offset": offset, "Count": PIECE},
                        timeout=plans.SLOW), cancel=cancel, slow=True)
                    data = _unpacked(reply.get("Data"), source)
                    length = as_int(reply.get("Length"))
                    if len(data) != as_int(reply.get("Read")) or (not data and offset < length):
                        raise CommandFailed(f"{source} on {self.runner.host} ended early at "
                                            f"{offset} of {length} bytes")
                    out.write(data)
                    digest.update(data)
                    offset += len(data)
                    if offset > length:
                        raise CommandFailed(f"{source} on {self.runner.host} changed while it "
                                            "was being copied")
                    progress(offset / length if length else 1.0,
                             f"Copying {name} from {self.runner.host}: "
                             f"{format_size(offset)} of {format_size(length)}")
            self._check(source, offset, digest.hexdigest(), f"the copy of {name}", cancel)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise

    def _check(self, path: str, length: int, sha256: str, what: str,
               cancel: CancelToken) -> None:
        """CommandFailed unless the host's file has this length and digest."""
        reply = self.runner.run(Call("file_hash", {"Path": path}, timeout=plans.COPY),
                                cancel=cancel, slow=True)
        if as_int(reply.get("Length")) != length or str(reply.get("Sha256", "")) != sha256:
            raise CommandFailed(f"{what} does not match the file on {self.runner.host} "
                                "(SHA-256 differs): it was changed or damaged on the way",
                                details=f"here: {length} bytes, {sha256}\nthere: {reply!r}")

    def _remove_partial(self, path: str) -> None:
        try:
            self.runner.run(Call("remove_path", {"Path": path}, timeout=plans.SLOW),
                            interruptible=False, slow=True)
        except BackendError as error:
            log.warning("could not remove the partial copy %s on %s: %s", path,
                        self.runner.host, error.summary)

    def _require_own(self, folder: str) -> None:
        if folder not in self._folders():
            raise InvalidState(f"DesktopVM did not make {folder} on {self.runner.host}")

    def _folders(self) -> set[str]:
        with self._lock:
            return set(self._made)


def _unpacked(data: object, source: str) -> bytes:
    try:
        return gzip.decompress(base64.b64decode(str(data or ""), validate=True))
    except (binascii.Error, OSError, EOFError, zlib.error) as error:
        raise CommandFailed(f"An unreadable piece of {source} came back",
                            details=str(error)) from error


