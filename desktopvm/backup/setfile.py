"""A backup set's files: backup.json (schema 3, 1-2 still read), SHA256SUMS and the BackupSet."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from desktopvm.model import MachineSpec
from desktopvm.model.devices import DiskFormat
from desktopvm.paths import open_regular, read_regular
from desktopvm.protocol import BackendError, CancelToken
from desktopvm.protocol.backup import (
    MAX_NVRAM_BYTES,
    MAX_TPM_FILE_BYTES,
    MAX_TPM_FILES,
    tpm_file_name_ok,
)

# 2: each disk names its source file; 3: the firmware state (UEFI variables, TPM). Sets of
# schema 1 and 2 are still read: they have no firmware state.
SCHEMA = 3
RECORD = "backup.json"
SUMS = "SHA256SUMS"
SPEC = "spec.json"
OVF = "machine.ovf"
NOTES = "notes.txt"
SNAPSHOTS = "snapshots.json"
DISKS = "disks"
NVRAM_FILE = "firmware/nvram.fd"  # the UEFI variable store, a raw edk2 flash image
TPM_FOLDER = "firmware/tpm"  # the TPM's state files, by their own names
KINDS = ("full", "incremental")
MAX_RECORD_BYTES = 4 * 1024 * 1024  # a record is a few KiB; more is not one of ours
CHUNK = 1024 * 1024
_SET_NAME = re.compile(r"^\d{8}T\d{6}Z(?:-\d+)?-(full|incremental)$")
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class BackupDamaged(BackendError):
    """A backup set that cannot be trusted: one line naming the set, the file and the fault."""


def damaged(set_path: Path, file: str, problem: str) -> BackupDamaged:
    """The error for `file` of the set at `set_path`."""
    where = f"{file}: " if file else ""
    return BackupDamaged(f"Backup {set_path.parent.name}/{set_path.name} is damaged: "
                         f"{where}{problem}")


@dataclass(frozen=True)
class DiskEntry:
    """One disk file of a set and the slot it fills in the spec."""

    file: str  # relative to the set, e.g. "disks/disk1.qcow2"
    controller: int
    port: int
    device: int
    format: DiskFormat
    virtual_size: int
    sha256: str
    incremental: bool = False
    # The disk's file as the backend named it (its identity: an incremental disk only chains
    # onto the parent's disk with the same one). Schema 1 records take it from spec.json.
    source_file: str = ""

    @property
    def slot(self) -> tuple[int, int, int]:
        """Where the disk sits: (controller index, port, device)."""
        return (self.controller, self.port, self.device)


@dataclass(frozen=True)
class FirmwareEntry:
    """One firmware state file of a set: the UEFI variable store or a TPM state file."""

    file: str  # NVRAM_FILE, or TPM_FOLDER/<name>
    kind: str  # "nvram" or "tpm"
    size: int
    sha256: str

    @property
    def limit(self) -> int:
        """The most bytes a file of its kind may hold."""
        return MAX_NVRAM_BYTES if self.kind == "nvram" else MAX_TPM_FILE_BYTES


@dataclass(frozen=True)
class BackupSet:
    """One complete backup of one machine at one point in time (a folder in the destination).

    `problem` is empty for a set that looks sound; `list_backups` fills it (and leaves the
    rest as far as it could read) for a damaged one instead of failing the whole list.
    """

    path: Path
    id: str
    machine_key: str
    machine_name: str
    source: str
    created: datetime
    kind: str
    parent: str
    was_running: bool
    size_bytes: int
    spec: MachineSpec
    point: str = ""
    disks: tuple[DiskEntry, ...] = ()
    problem: str = ""
    # Stored whole in every set (full or incremental): a restore takes the newest set's.
    firmware: tuple[FirmwareEntry, ...] = ()


def machine_key(source: str, machine_id: str) -> str:
    """The stable key of a machine: its connection and its id there, hashed (64 hex)."""
    return hashlib.sha256(f"{source}\n{machine_id}".encode()).hexdigest()


def set_name(created: datetime, kind: str, taken: set[str]) -> str:
    """The folder name of a new set: UTC time and kind, a counter if that second is taken."""
    stamp = created.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, number = f"{stamp}-{kind}", 1
    while name in taken:
        number += 1
        name = f"{stamp}-{number}-{kind}"
    return name


def is_set_name(name: str) -> bool:
    """Whether a folder name is a published set's (partial folders never are)."""
    return bool(_SET_NAME.match(name))


def record_data(backup: BackupSet, *, machine_id: str, backend: str, compressed: bool,
                version: str) -> dict[str, Any]:
    """The JSON object of backup.json for `backup`."""
    return {
        "schema": SCHEMA, "desktopvm_version": version, "id": backup.id,
        "machine_key": backup.machine_key, "machine_name": backup.machine_name,
        "machine_id": machine_id, "source": backup.source, "backend": backend,
        "created": backup.created.astimezone(UTC).isoformat(), "kind": backup.kind,
        "parent": backup.parent, "was_running": backup.was_running, "point": backup.point,
        "compressed": compressed,
        "disks": [{"file": d.file, "controller": d.controller, "port": d.port,
                   "device": d.device, "format": d.format.value,
                   "virtual_size": d.virtual_size, "sha256": d.sha256,
                   "incremental": d.incremental, "source_file": d.source_file}
                  for d in backup.disks],
        "firmware": [{"file": f.file, "kind": f.kind, "size": f.size, "sha256": f.sha256}
                     for f in backup.firmware],
    }


_TOP = {"schema": int, "desktopvm_version": str, "id": str, "machine_key": str,
        "machine_name": str, "machine_id": str, "source": str, "backend": str,
        "created": str, "kind": str, "parent": str, "was_running": bool, "point": str,
        "compressed": bool, "disks": list, "firmware": list}
_TOP_2 = {name: kind for name, kind in _TOP.items() if name != "firmware"}
#: The disk formats a set may hold: compressed qcow2 (the default, and the only one chains
#: are made of), or a hypervisor's own format when the user asks (full sets only).
SET_FORMATS = frozenset(f.value for f in (DiskFormat.QCOW2, DiskFormat.VDI, DiskFormat.VHDX,
                                          DiskFormat.VMDK))
_DISK = {"file": str, "controller": int, "port": int, "device": int, "format": str,
         "virtual_size": int, "sha256": str, "incremental": bool, "source_file": str}
_DISK_1 = {name: kind for name, kind in _DISK.items() if name != "source_file"}
_FIRMWARE = {"file": str, "kind": str, "size": int, "sha256": str}


def read_small(path: Path, limit: int = MAX_RECORD_BYTES) -> str:
    """The UTF-8 text of a small set file (OSError when it is not a regular file or larger
    than `limit`)."""
    return read_regular(path, limit).decode("utf-8")


def read_record(set_path: Path) -> dict[str, Any]:
    """backup.json of the set, checked against its schema (BackupDamaged names what is wrong)."""
    path = set_path / RECORD
    try:
        if path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
            raise damaged(set_path, RECORD, "not a plain file of a plausible size")
        data = json.loads(read_small(path))
    except FileNotFoundError:
        raise damaged(set_path, RECORD, "missing") from None
    except (OSError, UnicodeDecodeError, RecursionError) as error:
        raise damaged(set_path, RECORD, f"cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise damaged(set_path, RECORD, f"not valid JSON ({error.msg}, line {error.lineno})") \
            from None
    found = data.get("schema") if isinstance(data, dict) else None
    schema = found if isinstance(found, int) and not isinstance(found, bool) else 0
    if schema > SCHEMA:  # before its fields: a newer record may have new ones
        raise damaged(set_path, RECORD, f"schema {schema} was written by a newer "
                      f"DesktopVM; this one reads schema {SCHEMA}")
    _check_fields(set_path, data, _TOP if schema >= 3 else _TOP_2, "")
    if data["schema"] not in (1, 2, SCHEMA):
        raise damaged(set_path, RECORD, f"unknown schema {data['schema']}")
    if data["kind"] not in KINDS:
        raise damaged(set_path, RECORD, f"kind {data['kind']!r} is neither full nor incremental")
    if data["id"] != set_path.name:
        raise damaged(set_path, RECORD, f"it names the set {data['id']!r}, not its own folder")
    if (data["kind"] == "incremental") != bool(data["parent"]):
        raise damaged(set_path, RECORD, "an incremental set needs a parent, a full one has none")
    try:
        aware = datetime.fromisoformat(data["created"]).tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        raise damaged(set_path, RECORD, f"created {data['created']!r} is not a UTC time")
    _check_disks(set_path, data)
    _check_firmware(set_path, data.get("firmware", []))
    return dict(data)


def _check_disks(set_path: Path, data: dict[str, Any]) -> None:
    slots = set()
    sources = set()
    for number, disk in enumerate(data["disks"], start=1):
        _check_fields(set_path, disk, _DISK if data["schema"] >= 2 else _DISK_1,
                      f"disk {number} ")
        source = disk.get("source_file", "")
        if source and source in sources:
            raise damaged(set_path, RECORD, f"disk {number}'s source file is another disk's")
        sources.add(source)
        check_member(set_path, disk["file"], f"disk {number}")
        if disk["format"] not in SET_FORMATS:
            raise damaged(set_path, RECORD, f"disk {number} is {disk['format']!r}; a set holds "
                          "qcow2, VDI, VHDX or VMDK disks")
        if disk["format"] != DiskFormat.QCOW2.value and disk["incremental"]:
            raise damaged(set_path, RECORD, f"disk {number} is an incremental "
                          f"{disk['format']} disk; only qcow2 can be")
        if not re.fullmatch(r"[0-9a-f]{64}", disk["sha256"]):
            raise damaged(set_path, RECORD, f"disk {number} has no SHA-256 digest")
        if disk["incremental"] and data["kind"] != "incremental":
            raise damaged(set_path, RECORD, f"disk {number} is incremental in a full set")
        slot = (disk["controller"], disk["port"], disk["device"])
        if slot in slots or min(slot) < 0 or disk["virtual_size"] < 0:
            raise damaged(set_path, RECORD, f"disk {number}'s place {slot} is invalid or taken")
        slots.add(slot)


def _check_firmware(set_path: Path, entries: list[Any]) -> None:
    """Each firmware file: a known kind at its own place in the set, a plausible size."""
    files = set()
    nvram = tpm = 0
    for number, entry in enumerate(entries, start=1):
        what = f"firmware file {number}"
        _check_fields(set_path, entry, _FIRMWARE, f"{what} ")
        name = check_member(set_path, entry["file"], what)
        if name in files:
            raise damaged(set_path, RECORD, f"{what} names {name!r} twice")
        files.add(name)
        if entry["kind"] == "nvram":
            nvram += 1
            if name != NVRAM_FILE or nvram > 1:
                raise damaged(set_path, RECORD, f"{what}: a set holds one UEFI variable "
                              f"store, as {NVRAM_FILE}")
            limit = MAX_NVRAM_BYTES
        elif entry["kind"] == "tpm":
            tpm += 1
            folder, _, plain = name.rpartition("/")
            if folder != TPM_FOLDER or not tpm_file_name_ok(plain) or tpm > MAX_TPM_FILES:
                raise damaged(set_path, RECORD, f"{what}: TPM state is at most "
                              f"{MAX_TPM_FILES} of swtpm's state files (tpm2-00.permall "
                              f"and the like) in {TPM_FOLDER}/")
            limit = MAX_TPM_FILE_BYTES
        else:
            raise damaged(set_path, RECORD, f"{what} is of the unknown kind {entry['kind']!r}")
        if not 0 < entry["size"] <= limit:
            holder = "a UEFI variable store" if entry["kind"] == "nvram" else \
                "a TPM state file"
            raise damaged(set_path, RECORD, f"{what} is {entry['size']} bytes; {holder} "
                          f"holds 1 to {limit}")
        if not re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]):
            raise damaged(set_path, RECORD, f"{what} has no SHA-256 digest")


def firmware_of(data: dict[str, Any]) -> tuple[FirmwareEntry, ...]:
    """The firmware entries of a checked record (none before schema 3)."""
    return tuple(FirmwareEntry(file=f["file"], kind=f["kind"], size=f["size"],
                               sha256=f["sha256"]) for f in data.get("firmware", []))


def plain_member(set_path: Path, name: str) -> bool:
    """Whether the set's file `name` is a regular file reached through no symbolic link."""
    path = set_path
    for part in PurePosixPath(name).parts:
        path = path / part
        if path.is_symlink():
            return False
    return path.is_file()


def _check_fields(set_path: Path, data: object, fields: dict[str, type], what: str) -> None:
    if not isinstance(data, dict):
        raise damaged(set_path, RECORD, f"{what or 'the record '}is not a JSON object")
    missing = sorted(set(fields) - set(data))
    unknown = sorted(set(data) - set(fields))
    if missing or unknown:
        detail = f"lacks {missing[0]!r}" if missing else f"has an unknown field {unknown[0]!r}"
        raise damaged(set_path, RECORD, f"{what}{detail}")
    for name, kind in fields.items():
        value = data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise damaged(set_path, RECORD, f"{what}field {name!r} is not a {kind.__name__}")


def disks_of(data: dict[str, Any], spec: MachineSpec) -> tuple[DiskEntry, ...]:
    """The disk entries of a checked record (a schema 1 record's source files from `spec`)."""
    paths = {(index, disk.port, disk.device): disk.path for index, disk in spec.all_disks()}
    return tuple(DiskEntry(file=d["file"], controller=d["controller"], port=d["port"],
                           device=d["device"], format=DiskFormat(d["format"]),
                           virtual_size=d["virtual_size"], sha256=d["sha256"],
                           incremental=d["incremental"],
                           source_file=d["source_file"] if "source_file" in d else
                           paths.get((d["controller"], d["port"], d["device"]), ""))
                 for d in data["disks"])


def check_member(set_path: Path, name: str, what: str) -> str:
    """`name` if it is a plain relative path inside the set, else BackupDamaged."""
    parts = PurePosixPath(name).parts
    if (not name or name.startswith("/") or "\\" in name or ":" in name
            or any(p in (".", "..") for p in parts) or PurePosixPath(name).as_posix() != name):
        raise damaged(set_path, RECORD if what != SUMS else SUMS,
                      f"{what} names {name!r}, which is not a file inside the set")
    return name


def file_digest(path: Path, cancel: CancelToken | None = None) -> str:
    """The SHA-256 of a file, read in chunks (cancel checked between them)."""
    digest = hashlib.sha256()
    with open_regular(path) as file:
        while chunk := file.read(CHUNK):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
    return digest.hexdigest()


def format_sums(digests: dict[str, str]) -> str:
    """SHA256SUMS text as sha256sum writes it (`sha256sum -c SHA256SUMS` checks a set)."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


def read_sums(set_path: Path) -> dict[str, str]:
    """SHA256SUMS of the set: file -> digest (BackupDamaged for anything malformed)."""
    path = set_path / SUMS
    try:
        if path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
            raise damaged(set_path, SUMS, "not a plain file of a plausible size")
        text = read_small(path)
    except FileNotFoundError:
        raise damaged(set_path, SUMS, "missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise damaged(set_path, SUMS, f"cannot be read ({error})") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUM_LINE.match(line)
        if not match:
            raise damaged(set_path, SUMS, f"line {number} is not 'digest  file'")
        name = check_member(set_path, match.group(2), SUMS)
        if name in sums:
            raise damaged(set_path, SUMS, f"{name} is listed twice")
        sums[name] = match.group(1)
    return sums


def set_files(set_path: Path) -> list[str]:
    """Every file in the set (relative, '/'-separated), SHA256SUMS left out."""
    names = (p.relative_to(set_path).as_posix() for p in set_path.rglob("*")
             if p.is_symlink() or not p.is_dir())
    return sorted(name for name in names if name != SUMS)
