"""The double's list, medium and appliance commands."""

from __future__ import annotations

import signal
import tarfile
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox import appliance, foreign, output
from desktopvm.testing.doubles.virtualbox.fakevbox.machines import Context
from desktopvm.testing.doubles.virtualbox.fakevbox.options import parse
from desktopvm.testing.doubles.virtualbox.fakevbox.state import (
    UUID,
    Fail,
    error_lines,
    new_mac,
    new_uuid,
    safe_file_name,
    series,
    syntax,
    vm_ref,
    write_settings_file,
)

HOSTINFO = """Host Information:

Host time: 2025-01-01T00:00:00.000000000Z
Processor online count: {cpus}
Processor count: {cpus}
Processor online core count: {cpus}
Processor core count: {cpus}
Processor supports HW virtualization: yes
Processor supports PAE: yes
Processor supports long mode: yes
Processor supports nested paging: yes
Processor supports unrestricted guest: yes
Processor supports nested HW virtualization: yes
Memory size: {memory} MByte
Memory available: {memory} MByte
Operating system: Linux
Operating system version: 6.1.0-18-amd64
"""
SYSTEMPROPERTIES = """API version:                     {api}
Minimum guest RAM size:          4 Megabytes
Maximum guest RAM size:          2097152 Megabytes
Minimum video RAM size:          0 Megabytes
Maximum video RAM size:          256 Megabytes
Maximum guest monitor count:     64
Minimum guest CPU count:         1
Maximum guest CPU count:         64
Virtual disk limit (info):       2199022206976 Bytes
Maximum Serial Port count:       4
Default machine folder:          {folder}
Default hard disk format:        VDI
"""
BRIDGED = """Name:            eth0
GUID:            00000000-0000-0000-0000-000000000001
DHCP:            Disabled
IPAddress:       192.168.1.20
NetworkMask:     255.255.255.0
MediumType:      Ethernet
Wireless:        No
Status:          Up
VBoxNetworkName: HostInterfaceNetworking-eth0
"""
FORMATS = {"VDI", "VMDK", "VHD", "RAW"}


def extpacks(state: dict[str, Any]) -> str:
    """`list extpacks` as VBoxManageList.cpp listExtensionPacks prints it (state["extpacks"]:
    dicts with name, version, usable, why; none by default, as after a plain install)."""
    packs = state.get("extpacks", [])
    lines = [f"Extension Packs: {len(packs)}"]
    for number, pack in enumerate(packs):
        if number:
            lines.append("")
        revision = pack["version"].partition("r")[2] or "0"
        lines += [f"Pack no.{number:2d}:   {pack['name']}",
                  f"Version:      {pack['version'].partition('r')[0]}",
                  f"Revision:     {revision}",
                  "Edition:      ",
                  f"Description:  {pack.get('description', '')}",
                  "VRDE Module:  VBoxVRDP",
                  f"Usable:       {'true' if pack.get('usable', True) else 'false'}",
                  f"Why unusable: {pack.get('why', '')}"]
    return "\n".join(lines) + "\n"


def lists(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """list vms|runningvms|ostypes|hostinfo|systemproperties|bridgedifs|... (also --long)."""
    what = [a for a in args if not a.startswith("--")]
    kind = what[0] if what else ""
    vms = list(state["vms"].values())
    if kind == "vms":
        ctx["out"] += output.vm_list(vms)
    elif kind == "runningvms":
        ctx["out"] += output.vm_list([v for v in vms if v["state"] in ("running", "paused")])
    elif kind == "ostypes":
        ctx["out"] += output.ostypes(state)
    elif kind == "hostinfo":
        ctx["out"] += HOSTINFO.format(**state["host"])
    elif kind == "systemproperties":
        ctx["out"] += SYSTEMPROPERTIES.format(api=state["version"][:3].replace(".", "_"),
                                              folder=state["machine_folder"])
    elif kind == "bridgedifs":
        ctx["out"] += BRIDGED
    elif kind == "extpacks":
        ctx["out"] += extpacks(state)
    elif kind == "hostonlynets" and series(state) < (7, 0):
        raise syntax("Invalid parameter 'hostonlynets'")
    elif kind in ("hostonlyifs", "hostonlynets", "natnets", "intnets", "dhcpservers"):
        pass  # none configured in the double
    elif kind == "hdds":
        ctx["out"] += "\n".join(
            f"UUID:           {m['uuid']}\nParent UUID:    {m['parent'] or 'base'}\n"
            f"State:          created\nLocation:       {path}\nStorage format: {m['format']}\n"
            f"Capacity:       {m['size_mb']} MBytes\n" for path, m in state["media"].items())
    else:
        raise syntax(f"Invalid parameter '{kind}'")


def _medium(state: dict[str, Any], reference: str) -> tuple[str, dict[str, Any]]:
    path = reference if UUID.match(reference) else str(Path(reference).resolve())
    for location, record in state["media"].items():
        if reference in (location, record["uuid"]) or path == location:
            return location, record
    raise Fail(error_lines(f"Could not find file for the medium '{path}' (VERR_FILE_NOT_FOUND)",
                           "Details: code VBOX_E_FILE_ERROR (0x80bb0004), component "
                           "MediumWrap, interface IMedium"))


def createmedium(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """createmedium [disk] --filename --size|--sizebyte --format [--variant]."""
    parsed = parse([a for a in args if a not in ("disk", "dvd", "floppy")],
                   {"--filename", "--size", "--sizebyte", "--format", "--variant"})
    path = Path(parsed.get("--filename")).resolve()
    disk_format = parsed.get("--format", "VDI").upper()
    if disk_format not in FORMATS:
        raise Fail(error_lines(f"Invalid medium format '{disk_format}'"))
    if path.exists():
        raise Fail(error_lines("Failed to create medium",
                               f"Could not create the medium storage unit '{path}'.",
                               "VBoxManage: error: VD: cannot create image, already exists "
                               "(VERR_ALREADY_EXISTS)"))
    size_mb = int(parsed.get("--size", "0")) or -(-int(parsed.get("--sizebyte", "0")) // 2**20)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"<<< Oracle VM VirtualBox Disk Image >>>\n")
    try:
        ctx["progress"]()
    except KeyboardInterrupt:  # VirtualBox deletes the incomplete image when cancelled
        path.unlink(missing_ok=True)
        raise
    record = {"uuid": new_uuid(), "format": disk_format, "size_mb": size_mb,
              "parent": ""}
    state["media"][str(path)] = record
    ctx["out"] += f"Medium created. UUID: {record['uuid']}\n"


def closemedium(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """closemedium [disk] <file|uuid> [--delete]."""
    parsed = parse([a for a in args if a not in ("disk", "dvd", "floppy")], {"--delete"},
                   flags=frozenset({"--delete"}))
    location, _ = _medium(state, parsed.positional[0])
    del state["media"][location]
    if parsed.has("--delete"):
        Path(location).unlink(missing_ok=True)


def showmediuminfo(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """showmediuminfo [disk] <file|uuid>."""
    location, record = _medium(state, next(a for a in args if a not in ("disk", "dvd")))
    size_on_disk = max(1, Path(location).stat().st_size // 2**20) if Path(location).exists() \
        else 0
    ctx["out"] += (f"UUID:           {record['uuid']}\n"
                   f"Parent UUID:    {record['parent'] or 'base'}\nState:          created\n"
                   f"Type:           normal ({'differencing' if record['parent'] else 'base'})\n"
                   f"Location:       {location}\n"
                   f"Storage format: {record['format']}\nFormat variant: dynamic default\n"
                   f"Capacity:       {record['size_mb']} MBytes\n"
                   f"Size on disk:   {size_on_disk} MBytes\nEncryption:     disabled\n")


def modifymedium(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """modifymedium [disk] <file> --resize|--resizebyte|--compact."""
    parsed = parse([a for a in args if a not in ("disk", "dvd", "floppy")],
                   {"--resize", "--resizebyte", "--compact"}, flags=frozenset({"--compact"}))
    _, record = _medium(state, parsed.positional[0])
    new_mb = int(parsed.get("--resize", "0")) or -(-int(parsed.get("--resizebyte", "0")) // 2**20)
    if new_mb:
        if new_mb < record["size_mb"]:
            raise Fail(error_lines("Shrinking is not yet supported for medium"))
        ctx["progress"]()
        record["size_mb"] = new_mb


def clonemedium(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """clonemedium [disk] <source> <target> --format."""
    parsed = parse([a for a in args if a not in ("disk", "dvd", "floppy")],
                   {"--format", "--variant", "--existing"})
    source, record = _medium(state, parsed.positional[0])
    for vm in state["vms"].values():
        # A running machine holds its current media locked for writing; cloning one fails
        # (VirtualBox's MediumImpl setStateError: "Medium '%s' is locked for writing by
        # another task", VBOX_E_INVALID_OBJECT_STATE). Its frozen parents can be read.
        if vm["state"] in ("running", "paused") and any(
                slot["medium"] == source for ctl in vm["controllers"]
                for slot in ctl["attachments"].values()):
            raise Fail(error_lines(f"Medium '{source}' is locked for writing by another task",
                                   "Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), "
                                   "component MediumWrap, interface IMedium"))
    target = Path(parsed.positional[1]).resolve()
    if target.exists():
        raise Fail(error_lines(f"Cannot register the hard disk '{target}' because a hard disk "
                               "with that location already exists"))
    ctx["progress"]()
    target.write_bytes(Path(source).read_bytes())
    state["media"][str(target)] = {"uuid": new_uuid(), "size_mb": record["size_mb"],
                                   "format": parsed.get("--format", "VDI").upper(), "parent": ""}
    ctx["out"] += f"Clone medium created in format '{parsed.get('--format', 'VDI')}'. UUID: " \
                  f"{state['media'][str(target)]['uuid']}\n"


def export(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """export <vm> --output=<file> [--manifest] [--ovf10|--ovf20]: the double writes JSON."""
    vm = vm_ref(state, args[0], "VBoxManageAppliance.cpp")
    parsed = parse(args[1:], {"--output", "--manifest", "--ovf10", "--ovf20", "--vsys"},
                   flags=frozenset({"--manifest", "--ovf10", "--ovf20"}))
    target = Path(parsed.get("--output"))
    if target.exists():
        raise Fail(error_lines(f"Appliance file '{target}' already exists"))
    sizes = [state["media"].get(slot["medium"], {}).get("size_mb", 1) * 1024 * 1024
             for controller in vm["controllers"] for slot in controller["attachments"].values()
             if slot["type"] == "hdd" and slot["medium"]]
    manifest = any(option[0] == "--manifest" for option in parsed.options)
    appliance.write_ova(target, vm, sizes, manifest=manifest)
    try:
        ctx["progress"]()
    except KeyboardInterrupt:
        target.unlink(missing_ok=True)
        raise
    ctx["out"] += "Successfully exported 1 machine(s).\n"


def import_(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """import <file> [--vsys=0 --vmname=<name>]: reading progress, OK., copying progress.

    An appliance the double wrote itself brings back the machine it carries (header-only
    disks); any other OVF/OVA is read as VirtualBox reads it (fakevbox/foreign.py), its disks
    copied byte for byte."""
    parsed = parse(args, {"--vsys", "--vmname", "--dry-run", "-n"})
    source = Path(parsed.positional[0])
    name = parsed.get("--vmname")
    capacities: list[int] = []
    try:
        descriptor = foreign.descriptor_of(source)
        if appliance.MARK.encode() in descriptor:
            vm = appliance.read_ova(source)
            capacities = appliance.read_capacities(source)
            name = name or vm["name"]
            disks: list[foreign.ForeignDisk] = []
        else:
            vm, disks = foreign.read_foreign(descriptor, source, name,
                                             Path(state["machine_folder"]))
            name = name or vm["name"]
    except (OSError, ValueError, KeyError, StopIteration, tarfile.TarError):
        raise Fail(error_lines("Appliance read failed", f"Could not read '{source}'")) from None
    ctx["progress"]()
    ctx["out"] += f"Interpreting {source}...\nOK.\n"
    folder = Path(state["machine_folder"]) / safe_file_name(name)
    vm.update(uuid=new_uuid(), name=name, folder=str(folder), snapshots=[], current="",
              state="poweroff", cfg=str(folder / f"{safe_file_name(name)}.vbox"))
    for nic in vm["nics"].values():
        nic["mac"] = new_mac()
    new_folder = not folder.exists()
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if disks:
            _copy_disks(state, vm, source, disks, folder=folder, written=written)
        else:
            _header_disks(state, vm, capacities, folder=folder, written=written)
        ctx["progress"]()
        # Ctrl+C cancels VBoxManage's progress wait only: once the copy is done it registers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (KeyboardInterrupt, OSError, KeyError, tarfile.TarError) as failure:
        # VirtualBox removes what a cancelled or failed import wrote.
        for path in written:
            path.unlink(missing_ok=True)
            state["media"].pop(str(path), None)
        if new_folder:
            import shutil  # imported here: each call of the double pays for its imports

            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(failure, KeyboardInterrupt):
            raise
        raise Fail(error_lines("Appliance import failed",
                               f"Could not copy the disks of '{source}'")) from None
    state["vms"][vm["uuid"]] = vm
    write_settings_file(vm)
    ctx["out"] += "Successfully imported the appliance.\n"


def _header_disks(state: dict[str, Any], vm: dict[str, Any], capacities: list[int], *,
                  folder: Path, written: list[Path]) -> None:
    """The double's own appliance: each disk a header-only VDI of the declared capacity."""
    slots = [s for c in vm["controllers"] for s in c["attachments"].values()
             if s["type"] == "hdd" and s["medium"]]
    for index, slot in enumerate(slots, start=1):
        disk = folder / f"{safe_file_name(vm['name'])}-disk{index:03}.vdi"
        written.append(disk)
        disk.write_bytes(b"imported disk\n")
        slot.update(medium=str(disk), uuid=new_uuid())
        size = capacities[index - 1] if index <= len(capacities) else 2**20
        state["media"][str(disk)] = {"uuid": slot["uuid"], "format": "VDI",
                                     "size_mb": -(-size // 2**20), "parent": ""}


def _copy_disks(state: dict[str, Any], vm: dict[str, Any], source: Path,
                disks: list[foreign.ForeignDisk], *, folder: Path, written: list[Path]) -> None:
    """A foreign appliance's disks copied into the machine's folder, in their own format."""
    for index, disk in enumerate(disks, start=1):
        file = folder / f"{safe_file_name(vm['name'])}-disk{index:03}.{disk.format.lower()}"
        written.append(file)
        foreign.copy_disk(source, disk.href, file)
        uuid = new_uuid()
        vm["controllers"][disk.controller]["attachments"][disk.slot] = {
            "type": "hdd", "medium": str(file), "uuid": uuid}
        state["media"][str(file)] = {"uuid": uuid, "format": disk.format,
                                     "size_mb": -(-disk.capacity // 2**20), "parent": ""}
