"""Copying files to and from a backend's host when that host is another computer (optional).

A backend whose machines live on a remote host (Hyper-V over WinRM) keeps their disks there,
where DesktopVM cannot open them. Backups must bring disks here and restores must take them
there; a backend that can do that offers `HostFileCopying`. Every copy is checked by SHA-256
on both ends, never overwrites a file, and only touches folders it made itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from desktopvm.protocol.progress import CancelToken, Progress


@runtime_checkable
class HostFileCopying(Protocol):
    """Files between this computer and the backend's host (its paths in the host's own form)."""

    def make_host_folder(self, stem: str) -> str:
        """A new empty folder on the host beside its machines' disks, named after `stem`;
        its path on the host."""
        ...

    def put_host_file(self, source: Path, folder: str, name: str, *, progress: Progress,
                      cancel: CancelToken) -> str:
        """Copy the local file `source` as `name` into `folder` (made by make_host_folder);
        the copy's path on the host. A file already there is never overwritten; a failed or
        cancelled copy leaves no partial file."""
        ...

    def get_host_file(self, source: str, destination: Path, *, progress: Progress,
                      cancel: CancelToken) -> None:
        """Copy the host's file `source` to the new local file `destination` (which must not
        exist); a failed or cancelled copy leaves no partial file."""
        ...

    def remove_host_folder(self, folder: str) -> None:
        """Remove a folder make_host_folder made, with what is in it (best effort, logged);
        any other path is refused."""
        ...

    def release_host_folder(self, folder: str) -> None:
        """DesktopVM is done with a folder make_host_folder made (a machine's disks now live
        there): it stays, and these methods no longer touch it."""
        ...


def files_are_here(host: str) -> bool:
    """Whether a backend on `host` keeps its files on this computer (its disks are files
    here), as opposed to a remote host's."""
    return host in ("localhost", "")
