"""Finishing a set in its partial folder: spec, OVF, notes, snapshots, backup.json, SHA256SUMS."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import desktopvm
from desktopvm.backup.publish import OWNER, publish
from desktopvm.backup.setfile import (
    NOTES,
    OVF,
    RECORD,
    SNAPSHOTS,
    SPEC,
    SUMS,
    BackupSet,
    DiskEntry,
    FirmwareEntry,
    file_digest,
    format_sums,
    is_set_name,
    record_data,
    set_files,
    set_name,
)
from desktopvm.model import DiskFormat, MachineSpec
from desktopvm.model.specfile import spec_to_json
from desktopvm.ovf import ExportDisk, OvfError, write_ovf
from desktopvm.protocol import CancelToken, Snapshot

log = logging.getLogger(__name__)
QCOW2_FORMAT_URL = "http://www.gnome.org/~markmc/qcow-image-format.html"
#: The DiskSection ovf:format of each format a set may hold. OVF names VMDK's; the others
#: name the format's own specification, which OVF readers (ours: desktopvm.ovf) recognise.
FORMAT_URLS = {
    DiskFormat.QCOW2: QCOW2_FORMAT_URL,
    DiskFormat.VMDK: "http://www.vmware.com/interfaces/specifications/vmdk.html#sparse",
    DiskFormat.VDI: "https://www.virtualbox.org/manual/ch05.html#vdidetails",
    DiskFormat.VHDX: "https://learn.microsoft.com/openspecs/windows_protocols/ms-vhdx",
}


def snapshot_data(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot and its children as JSON (the tree as metadata; its disks are not kept)."""
    return {"id": snapshot.id, "name": snapshot.name, "description": snapshot.description,
            "created": snapshot.created, "has_memory": snapshot.has_memory,
            "children": [snapshot_data(child) for child in snapshot.children]}


def ovf_for(spec: MachineSpec, disks: tuple[DiskEntry, ...]) -> bytes | None:
    """machine.ovf for the set (its disks in the spec's order), or None if OVF cannot say it."""
    by_slot = {d.slot: d for d in disks}
    exported = []
    for index, disk in spec.all_disks():
        entry = by_slot.get((index, disk.port, disk.device))
        if entry is None:
            return None
        exported.append(ExportDisk(href=entry.file, capacity_bytes=entry.virtual_size,
                                   file_size=0, format_url=FORMAT_URLS[entry.format]))
    try:
        return write_ovf(spec, exported)
    except OvfError as error:  # the set stays complete without it; spec.json is the record
        log.warning("no OVF descriptor in the backup of %s: %s", spec.name, error)
        return None


def finish(partial: Path, machine_folder: Path, *, created: datetime, spec: MachineSpec,
           disks: tuple[DiskEntry, ...],
           source: str, machine_id: str, key: str, backend: str, parent: str, point: str,
           was_running: bool, compressed: bool, snapshots: tuple[Snapshot, ...],
           cancel: CancelToken, firmware: tuple[FirmwareEntry, ...] = ()) -> BackupSet:
    """Write the metadata and the digests, then publish the set under its final name.

    `created` is the set's point in time: when the capture or export began. `firmware`
    are the UEFI variable store and TPM state files already in the partial folder.
    """
    created = created.astimezone(UTC)
    kind = "incremental" if any(d.incremental for d in disks) else "full"
    taken = {p.name for p in machine_folder.iterdir() if is_set_name(p.name)}
    name = set_name(created, kind, taken)
    (partial / SPEC).write_text(spec_to_json(spec), encoding="utf-8")
    # Only a full set's disks are whole: an incremental one's hold changes alone, which an
    # OVF reader would take for the machine's disks.
    descriptor = ovf_for(spec, disks) if kind == "full" else None
    if descriptor is not None:
        (partial / OVF).write_bytes(descriptor)
    (partial / NOTES).write_text(spec.notes, encoding="utf-8")
    (partial / SNAPSHOTS).write_text(json.dumps([snapshot_data(s) for s in snapshots],
                                                indent=2) + "\n", encoding="utf-8")
    size = sum((partial / d.file).stat().st_size for d in disks) + sum(f.size for f in firmware)
    backup = BackupSet(path=machine_folder / name, id=name, machine_key=key,
                       machine_name=spec.name, source=source, created=created, kind=kind,
                       parent=parent if kind == "incremental" else "", was_running=was_running,
                       size_bytes=size, spec=spec, point=point, disks=disks,
                       firmware=firmware)
    record = record_data(backup, machine_id=machine_id, backend=backend, compressed=compressed,
                         version=desktopvm.__version__)
    (partial / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    known = {d.file: d.sha256 for d in disks} | {f.file: f.sha256 for f in firmware}
    digests = {}
    for member in set_files(partial):
        if member == OWNER:
            continue
        digests[member] = known.get(member) or file_digest(partial / member, cancel)
    (partial / SUMS).write_text(format_sums(digests), encoding="utf-8")
    cancel.raise_if_cancelled()
    publish(partial, backup.path)
    return backup
