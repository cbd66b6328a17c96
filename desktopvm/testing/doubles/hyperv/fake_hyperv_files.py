"""The fake Hyper-V host's file operations: new_folder, read_file, write_file, file_hash.

The host's files are this computer's files (the fake host lives in a folder here). The rules
are those of the calls the scripts make, with their sources:
- New-Item -ItemType Directory refuses an existing item ("An item with the specified name …
  already exists", FullyQualifiedErrorId DirectoryExist; PowerShell's New-Item reference).
- [System.IO.File]::Open: FileMode.CreateNew throws IOException when the file exists,
  FileMode.Open throws FileNotFoundException when it does not, a missing folder throws
  DirectoryNotFoundException (.NET File.Open / FileMode reference); PowerShell reports a
  .NET method's exception as MethodInvocationException.
- Stream.Read past the end reads nothing; GZipStream is RFC 1952 gzip, as Python's gzip.
- Get-FileHash gives upper-case hex (the script lowers it).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.hyperv.fake_hyperv import Args, HyperVError, State


def _method_error(exception: str, message: str) -> HyperVError:
    return HyperVError(exception, f'Exception calling "Open" with "4" argument(s): "{message}"',
                       "NotSpecified", "System.Management.Automation.MethodInvocationException")


def _open(path: Path, mode: str) -> Any:
    if not path.parent.is_dir():
        raise _method_error("DirectoryNotFoundException",
                            f"Could not find a part of the path '{path}'.")
    if mode == "CreateNew" and path.exists():
        raise _method_error("IOException", f"The file '{path}' already exists.")
    if mode != "CreateNew" and not path.is_file():
        raise _method_error("FileNotFoundException", f"Could not find file '{path}'.")
    return path.open("xb" if mode == "CreateNew" else "r+b")


def op_new_folder(state: State, args: Args) -> Any:
    folder = Path(args["Path"])
    if folder.exists():
        raise HyperVError("DirectoryExist,Microsoft.PowerShell.Commands.NewItemCommand",
                          f"An item with the specified name {folder} already exists.",
                          "ResourceExists", "System.IO.IOException")
    folder.mkdir(parents=True)
    return {"Path": str(folder)}


def op_read_file(state: State, args: Args) -> Any:
    path, offset, count = Path(args["Path"]), int(args["Offset"]), int(args["Count"])
    with _open(path, "Open") as stream:
        length = stream.seek(0, 2)
        stream.seek(offset)
        data = stream.read(count)
    return {"Length": length, "Read": len(data),
            "Data": base64.b64encode(gzip.compress(data, 6)).decode("ascii")}


def op_write_file(state: State, args: Args) -> Any:
    path, offset = Path(args["Path"]), int(args["Offset"])
    data = gzip.decompress(base64.b64decode(args["Data"], validate=True))
    stream = _open(path, "CreateNew" if offset == 0 else "Open")  # refused: nothing made
    written = False
    try:
        length = stream.seek(0, 2)
        if length != offset:
            raise HyperVError("DesktopVM.OutOfStep", f"{path} holds {length} bytes, not {offset}")
        stream.write(data)
        written = True
        return {"Length": stream.tell()}
    finally:
        stream.close()
        if not written and offset == 0:  # write_file.ps1: a failed first piece removes its file
            path.unlink()


def op_file_hash(state: State, args: Args) -> Any:
    path = Path(args["Path"])
    if not path.is_file():
        raise HyperVError("PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
                          f"Cannot find path '{path}' because it does not exist.",
                          "ObjectNotFound", "System.Management.Automation.ItemNotFoundException")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"Length": path.stat().st_size, "Sha256": digest.hexdigest()}
