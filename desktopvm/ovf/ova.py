"""OVA packages (a tar: descriptor, manifest, disks): checked extraction and atomic writing."""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tarfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from desktopvm.ovf.common import OvfError, check_href, name_key
from desktopvm.ovf.manifest import (
    MAX_MANIFEST_BYTES,
    Hasher,
    format_manifest,
    new_hash,
    read_manifest,
)
from desktopvm.protocol import CancelToken, Progress

CHUNK = 1024 * 1024
MAX_MEMBERS = 1000  # an OVA holds a handful of files; thousands of headers is an attack
USTAR_NAME_BYTES = 99  # VirtualBox reads neither GNU nor PAX long names
USTAR_MAX_OCTAL_SIZE = 8**11  # sizes from 8 GiB on need the base-256 extension


def extract_ova(ova: Path, target_dir: Path, *, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> Path:
    """Extract `ova` into `target_dir` and return the descriptor's path there.

    Every member is checked before anything is written: only regular files (and plain
    directories) with safe relative names, no duplicates. Files are created exclusively,
    never replacing or following what exists. With a manifest, every digest is verified and
    every file must be listed. On any failure or cancel, what was extracted is removed.
    """
    created: list[Path] = []
    try:
        _make_dirs(target_dir, created)
        root = target_dir.resolve()
        with open_ova(ova) as tar:
            members = checked_members(tar, root, ova)
            descriptor = single_member(members, ".ovf", ova, required=True)
            manifest_name = single_member(members, ".mf", ova, required=False)
            manifest = _manifest(tar, members[manifest_name], ova) if manifest_name else None
            meter = _Meter(sum(m.size for m in members.values()), progress, cancel)
            _extract_all(tar, members, root, created=created, manifest=manifest,
                         manifest_name=manifest_name, meter=meter, ova=ova)
        return root / descriptor
    except (OSError, tarfile.TarError) as error:
        _remove(created)
        raise OvfError(f"{ova}: cannot extract the package: {error}") from error
    except BaseException:
        _remove(created)
        raise


def write_ova(ova: Path, ovf_name: str, ovf_bytes: bytes, files: list[Path], *,
              progress: Progress | None = None, cancel: CancelToken | None = None,
              scratch: Path | None = None) -> None:
    """Write an OVA the way VirtualBox does: descriptor, SHA256 manifest, then `files`.

    USTAR format. The package is written under a temporary name (in `scratch`, a folder on
    the same file system, or beside `ova`) and renamed into place; on failure or cancel the
    partial file is removed. A caller that may be killed passes a scratch folder it marks as
    its own, so whatever a killed run leaves is found and removed by the next one.
    """
    mf_name = ovf_name[:-4] + ".mf"
    _check_names([ovf_name, mf_name, *(f.name for f in files)], ovf_name)
    temporary = (scratch or ova.parent) / f".{ova.name}.{secrets.token_hex(4)}.part"
    try:
        sizes = [f.stat().st_size for f in files]
        meter = _Meter(2 * sum(sizes), progress, cancel)  # read once to hash, once to write
        # The manifest precedes the disks in the archive, so the disks are hashed first.
        digests = {ovf_name: hashlib.sha256(ovf_bytes).hexdigest()}
        for file in files:
            digests[file.name] = _hash_file(file, meter)
        manifest = format_manifest(digests).encode("utf-8")
        with temporary.open("xb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                _add(tar, ovf_name, len(ovf_bytes), io.BytesIO(ovf_bytes))
                _add(tar, mf_name, len(manifest), io.BytesIO(manifest))
                for file, size in zip(files, sizes, strict=True):
                    with file.open("rb") as source:
                        tap = _Tap(source, hashlib.sha256(), meter, f"Writing {file.name}")
                        _add(tar, file.name, size, tap)
                    if tap.hasher.hexdigest() != digests[file.name]:
                        raise OvfError(f"{file} changed while it was being exported")
            raw.flush()
            os.fsync(raw.fileno())
        temporary.replace(ova)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OvfError(f"cannot write {ova}: {error}") from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    meter.done("Exported")


class _Meter:
    """Progress over a byte count, with cancel checks at every step."""

    def __init__(self, total: int, progress: Progress | None, cancel: CancelToken | None) -> None:
        self.total = max(total, 1)
        self.done_bytes = 0
        self.reported = -CHUNK
        self.progress = progress
        self.cancel = cancel

    def advance(self, count: int, stage: str) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        self.done_bytes += count
        # Reports at most once per chunk: callers may be UI signals.
        if self.progress is not None and self.done_bytes - self.reported >= CHUNK:
            self.reported = self.done_bytes
            self.progress(min(self.done_bytes / self.total, 1.0), stage)

    def done(self, stage: str) -> None:
        if self.progress is not None:
            self.progress(1.0, stage)


class _Tap:
    """A file reader that hashes and meters what tarfile copies through it."""

    def __init__(self, source: IO[bytes], hasher: Hasher, meter: _Meter, stage: str) -> None:
        self.source, self.hasher, self.meter, self.stage = source, hasher, meter, stage

    def read(self, size: int = -1, /) -> bytes:
        data = self.source.read(size)
        self.hasher.update(data)
        self.meter.advance(len(data), self.stage)
        return data


class _UstarInfo(tarfile.TarInfo):
    """USTAR headers that also carry sizes of 8 GiB and more.

    Python's USTAR writer refuses them; VirtualBox (and GNU tar, libarchive, Python's own
    reader) accept the base-256 size encoding in an otherwise plain USTAR header, which is
    what VirtualBox itself writes for large disks.
    """

    def create_ustar_header(self, info: Mapping[str, str | int | bytes | Mapping[str, str]],
                            encoding: str, errors: str) -> bytes:
        size = info.get("size", 0)
        if not isinstance(size, int) or size < USTAR_MAX_OCTAL_SIZE:
            return super().create_ustar_header(info, encoding, errors)
        header = bytearray(super().create_ustar_header({**info, "size": 0}, encoding, errors))
        header[124:136] = b"\x80" + size.to_bytes(11, "big")
        header[148:156] = b" " * 8  # the checksum is computed with its own field as spaces
        header[148:155] = b"%06o\x00" % sum(header)
        return bytes(header)


def _add(tar: tarfile.TarFile, name: str, size: int, source: _Tap | IO[bytes]) -> None:
    info = _UstarInfo(name)
    info.size, info.mode, info.mtime, info.type = size, 0o644, int(time.time()), tarfile.REGTYPE
    tar.addfile(info, source)


def _check_names(names: list[str], ovf_name: str) -> None:
    if "/" in ovf_name or not ovf_name.lower().endswith(".ovf"):
        raise OvfError(f"the descriptor name {ovf_name!r} must be a plain name ending in .ovf")
    seen: set[str] = set()
    for name in names:
        check_href(name, "OVA", "member name")
        if len(name.encode("utf-8")) > USTAR_NAME_BYTES:
            raise OvfError(f"the file name {name!r} is longer than {USTAR_NAME_BYTES} bytes, "
                           "which OVA readers cannot handle")
        if name_key(name) in seen:
            raise OvfError(f"two files of the package would be named {name!r}")
        seen.add(name_key(name))


def _hash_file(file: Path, meter: _Meter) -> str:
    hasher = hashlib.sha256()
    with file.open("rb") as source:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
            meter.advance(len(chunk), f"Checksumming {file.name}")
    return hasher.hexdigest()


def open_ova(ova: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(ova, mode="r:")  # uncompressed only, as the OVF spec requires
    except tarfile.ReadError as error:
        raise OvfError(f"{ova} is not an OVA (an uncompressed tar archive): {error}") from error


def checked_members(tar: tarfile.TarFile, root: Path,
                     ova: Path) -> dict[str, tarfile.TarInfo]:
    """Regular-file members by name, after refusing anything unsafe in the whole archive."""
    members: dict[str, tarfile.TarInfo] = {}
    seen: set[str] = set()
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise OvfError(f"{ova}: more than {MAX_MEMBERS} members; not an OVA")
        name = member.name
        while name.startswith("./"):
            name = name[2:]
        if member.isdir():
            name = name.rstrip("/")
        check_href(name, str(ova), "archive member")
        if member.issym() or member.islnk():
            raise OvfError(f"{ova}: refusing archive member {name!r}: it is a link")
        if member.ischr() or member.isblk() or member.isfifo():
            raise OvfError(f"{ova}: refusing archive member {name!r}: it is a device or FIFO")
        if member.issparse() or not (member.isreg() or member.isdir()):
            raise OvfError(f"{ova}: refusing archive member {name!r}: unsupported member type")
        if name_key(name) in seen:
            raise OvfError(f"{ova}: refusing archive member {name!r}: the name occurs twice")
        seen.add(name_key(name))
        if not (root / name).resolve().is_relative_to(root):
            raise OvfError(f"{ova}: refusing archive member {name!r}: it leads outside "
                           f"{root}")
        _data_filter(member, root, ova)
        if member.isreg():
            members[name] = member
    return members


def _data_filter(member: tarfile.TarInfo, root: Path, ova: Path) -> None:
    """Python's own 'data' extraction filter (3.11.4+) as a second opinion."""
    data_filter: Callable[[tarfile.TarInfo, str], tarfile.TarInfo] | None = getattr(
        tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(member, str(root))
    except tarfile.TarError as error:
        raise OvfError(f"{ova}: refusing archive member {member.name!r}: {error}") from error


def single_member(members: dict[str, tarfile.TarInfo], suffix: str, ova: Path, *,
            required: bool) -> str:
    found = [n for n in members if "/" not in n and n.lower().endswith(suffix)]
    if len(found) > 1 or (required and not found):
        raise OvfError(f"{ova}: an OVA holds exactly one {suffix} file at its top level, "
                       f"this one {len(found)}")
    return found[0] if found else ""


def _manifest(tar: tarfile.TarFile, member: tarfile.TarInfo,
              ova: Path) -> dict[str, tuple[str, str]]:
    if member.size > MAX_MANIFEST_BYTES:
        raise OvfError(f"{ova}: the manifest {member.name!r} is implausibly large")
    source = tar.extractfile(member)
    data = source.read() if source is not None else b""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OvfError(f"{ova}: the manifest is not UTF-8 text") from error
    return read_manifest(text, f"{ova}: {member.name}")


def _extract_all(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], root: Path, *,
                 created: list[Path], manifest: dict[str, tuple[str, str]] | None,
                 manifest_name: str, meter: _Meter, ova: Path) -> None:
    if manifest is not None:
        _check_listing(manifest, members, manifest_name, ova)
    for name, member in members.items():
        listed = manifest.get(name) if manifest is not None else None
        destination = root / name
        _make_dirs(destination.parent, created)
        if not destination.parent.resolve().is_relative_to(root):  # a symlinked folder
            raise OvfError(f"{ova}: refusing to write {name!r} outside {root}")
        source = tar.extractfile(member)
        if source is None:
            raise OvfError(f"{ova}: cannot read archive member {name!r}")
        hasher = new_hash(listed[0]) if listed else None
        # "x": created exclusively, so an existing file or symlink is never followed or replaced.
        with destination.open("xb") as out:
            created.append(destination)
            while chunk := source.read(CHUNK):
                out.write(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                meter.advance(len(chunk), f"Extracting {name}")
        if listed and hasher is not None and hasher.hexdigest() != listed[1]:
            raise OvfError(f"{ova}: {name!r} does not match its {listed[0].upper()} digest in "
                           "the manifest; the package is damaged or was altered")
    meter.done("Extracted")


def _check_listing(manifest: dict[str, tuple[str, str]], members: dict[str, tarfile.TarInfo],
                   manifest_name: str, ova: Path) -> None:
    """Every file is listed (but the manifest and a signature) and every listed file exists."""
    missing = sorted(set(manifest) - set(members))
    if missing:
        raise OvfError(f"{ova}: the manifest lists {', '.join(map(repr, missing))}, which the "
                       "package does not contain")
    unlisted = [n for n in members if n not in manifest and n != manifest_name
                and not n.lower().endswith(".cert")]
    if unlisted:
        raise OvfError(f"{ova}: {', '.join(map(repr, unlisted))} not in the manifest, so "
                       "cannot be verified")


def _make_dirs(path: Path, created: list[Path]) -> None:
    """mkdir -p that records each folder it creates, for clean-up."""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir()
        created.append(folder)


def _remove(created: list[Path]) -> None:
    """Undo an extraction: files, then the folders it made, newest first."""
    for path in reversed(created):
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        except OSError:
            pass  # a folder someone else put files into stays; everything we wrote is gone
    created.clear()
