"""The double's runtime commands: showvminfo, startvm, controlvm, snapshots, clonevm."""

from __future__ import annotations

import copy
import signal
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox import output
from desktopvm.testing.doubles.virtualbox.fakevbox.machines import Context
from desktopvm.testing.doubles.virtualbox.fakevbox.options import parse
from desktopvm.testing.doubles.virtualbox.fakevbox.state import (
    Fail,
    error_lines,
    locked,
    new_mac,
    new_uuid,
    now_iso,
    safe_file_name,
    series,
    syntax,
    vm_ref,
    write_settings_file,
)

ACTIVE = ("running", "paused")
NO_SNAPSHOTS = "This machine does not have any snapshots"


def showvminfo(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """showvminfo <vm> --machinereadable."""
    parsed = parse(args, {"--machinereadable", "--details"},
                   flags=frozenset({"--machinereadable", "--details"}))
    if not parsed.positional:
        raise syntax("VM name or UUID required")
    vm = vm_ref(state, parsed.positional[0])
    if not parsed.has("--machinereadable"):
        raise syntax("this double prints only --machinereadable output")
    ctx["out"] += output.showvminfo(vm, state)


def _set_state(vm: dict[str, Any], new_state: str) -> None:
    vm["state"] = new_state
    vm["state_time"] = now_iso()
    write_settings_file(vm)


ORACLE_PACKS = ("Oracle VM VirtualBox Extension Pack", "Oracle VirtualBox Extension Pack")


def _require_extension_pack(state: dict[str, Any], vm: dict[str, Any]) -> None:
    """6.1 keeps EHCI/xHCI in the Oracle pack: a VM using them does not start without it.

    The text is ConsoleImpl2.cpp's (VBOX_WITH_EXTPACK branch, quoted in Vagrant and forum
    reports); 7.0 has both controllers in the base package. NVMe is not enforced here: its
    6.1 start failure was not found in a source or capture.
    """
    if series(state) >= (7, 0) or any(
            p.get("name") in ORACLE_PACKS and p.get("usable", True)
            for p in state.get("extpacks", [])):
        return
    for key, usb in (("ehci", "2.0"), ("xhci", "3.0")):
        if vm["usb"][key]:
            pack = ORACLE_PACKS[0]
            raise Fail(error_lines(
                f"Implementation of the USB {usb} controller not found!",
                f"Because the USB {usb} controller state is part of the saved VM state, the VM "
                f"cannot be started. To fix this problem, either install the '{pack}' or "
                f"disable USB {usb} support in the VM settings.",
                f"Note! This error could also mean that an incompatible version of the "
                f"'{pack}' is installed (VERR_NOT_FOUND)",
                "Details: code NS_ERROR_FAILURE (0x80004005), component ConsoleWrap, "
                "interface IConsole"))


def startvm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """startvm <vm> --type=headless|gui|separate."""
    parsed = parse(args, {"--type"})
    vm = vm_ref(state, parsed.positional[0], "VBoxManageMisc.cpp")
    if vm["state"] in ACTIVE:
        raise locked(vm["name"])
    if not vm["controllers"] and state.get("refuse_diskless_start"):
        raise Fail(error_lines("No bootable medium found"))
    _require_extension_pack(state, vm)
    ctx["out"] += f'Waiting for VM "{vm["name"]}" to power on...\n'
    _set_state(vm, "running")
    ctx["out"] += f'VM "{vm["name"]}" has been successfully started.\n'


def controlvm(state: dict[str, Any], args: list[str], ctx: Context) -> None:  # noqa: PLR0912
    """controlvm <vm> pause|resume|reset|poweroff|savestate|acpipowerbutton|screenshotpng|
    keyboardputstring|keyboardputscancode|nicN."""
    if len(args) < 2:
        raise syntax("Not enough parameters")
    vm = vm_ref(state, args[0], "VBoxManageControlVM.cpp")
    command, rest = args[1], args[2:]
    if vm["state"] not in ACTIVE:
        raise Fail(error_lines(f"Machine '{vm['name']}' is not currently running"))
    if command == "pause":
        if vm["state"] != "running":
            raise Fail(error_lines("Invalid machine state: Paused (must be Running)",
                                   "Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), "
                                   "component ConsoleWrap, interface IConsole"))
        _set_state(vm, "paused")
    elif command == "resume":
        _set_state(vm, "running")
    elif command == "reset":
        pass
    elif command in ("poweroff", "acpipowerbutton"):
        if command == "poweroff":
            ctx["progress"]()
        _set_state(vm, "poweroff")
    elif command == "savestate":
        ctx["progress"]()
        _set_state(vm, "saved")
    elif command == "screenshotpng":
        Path(rest[0]).write_bytes(b"\x89PNG\r\n\x1a\n" + vm["uuid"].encode())
    elif command in ("keyboardputstring", "keyboardputscancode"):
        if not rest:
            raise syntax(f"Missing argument to '{command}'")
    elif command.startswith("nic") and command[3:].isdigit():
        nic = vm["nics"].setdefault(command[3:], {"type": "nat", "net": "", "nictype": "82540EM",
                                                  "mac": new_mac(), "cable": True,
                                                  "forwards": []})
        nic["type"], nic["net"] = rest[0], rest[1] if len(rest) > 1 else ""
    else:
        raise syntax(f"Invalid parameter '{command}'")


def discardstate(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """discardstate <vm>: a saved machine becomes powered off."""
    vm = vm_ref(state, args[0], "VBoxManageMisc.cpp")
    if vm["state"] != "saved":
        raise Fail(error_lines("Machine does not have a saved state",
                               "Details: code VBOX_E_INVALID_VM_STATE (0x80bb0002), "
                               "component MachineWrap, interface IMachine"))
    _set_state(vm, "poweroff")


def _snapshot(vm: dict[str, Any], reference: str) -> dict[str, Any]:
    snapshots: list[dict[str, Any]] = vm["snapshots"]
    for snap in snapshots:
        if reference in (snap["uuid"], snap["name"]):
            return snap
    raise Fail(error_lines(f"Could not find a snapshot named '{reference}'",
                           "Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
                           "MachineWrap, interface IMachine",
                           'Context: "FindSnapshot(Bstr(pszSnapshotName).raw(), '
                           'pSnapshot.asOutParam())" at line 608 of file '
                           "VBoxManageSnapshot.cpp"))


def snapshot(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """snapshot <vm> take <name> [--description=] [--live] | list | restore | delete."""
    if len(args) < 2:
        raise syntax("Not enough parameters")
    vm = vm_ref(state, args[0], "VBoxManageSnapshot.cpp")
    command = args[1]
    if command == "list":
        if not vm["snapshots"]:
            ctx["out"] += NO_SNAPSHOTS + "\n"
            ctx["exit"] = 1
            return
        ctx["out"] += "\n".join(output.snapshot_lines(vm)) + "\n"
    elif command == "take":
        parsed = parse(args[3:], {"--description", "--live", "--uniquename"},
                       flags=frozenset({"--live"}))
        taken = {"uuid": new_uuid(), "name": args[2], "parent": vm["current"],
                 "description": parsed.get("--description"), "time": now_iso() + "Z",
                 "state_file": "Snapshots/state.sav" if vm["state"] in ACTIVE else ""}
        ctx["progress"]()
        taken["machine"] = copy.deepcopy({k: vm[k] for k in SNAPSHOT_SETTINGS})
        taken["frozen"] = _freeze_disks(state, vm)
        vm["snapshots"].append(taken)
        vm["current"] = taken["uuid"]
        write_settings_file(vm)
        ctx["out"] += f"Snapshot taken. UUID: {taken['uuid']}\n"
    elif command == "restore":
        if vm["state"] in ACTIVE:
            raise locked(vm["name"])
        target = _snapshot(vm, args[2])
        ctx["out"] += f"Restoring snapshot '{target['name']}' ({target['uuid']})\n"
        ctx["progress"]()
        _restore_settings(state, vm, target)
        vm["current"] = target["uuid"]
        write_settings_file(vm)
    elif command == "delete":
        target = _snapshot(vm, args[2])
        ctx["progress"]()
        _merge_frozen(state, vm, target)
        for child in vm["snapshots"]:
            if child["parent"] == target["uuid"]:
                child["parent"] = target["parent"]
        vm["snapshots"].remove(target)
        if vm["current"] == target["uuid"]:
            vm["current"] = target["parent"]
        write_settings_file(vm)
    else:
        raise syntax(f"Invalid parameter '{command}'")


#: What a snapshot keeps of the machine and `snapshot restore` brings back: "A snapshot is a
#: complete copy of a VM's settings" (VBoxManage snapshot, VirtualBox manual 6.0 §7.39). Only
#: the hardware: the name, OS type, description and extra data are the machine's own and stay
#: as they are (Machine::i_copyFrom copies the hardware data, not the user data; the real
#: VBoxManage 7.2 keeps today's description, tests/backends/virtualbox/real).
SNAPSHOT_SETTINGS = ("memory", "cpus", "vram", "monitors", "firmware", "tpm", "nested",
                     "graphics", "boot", "usb", "mouse", "nics", "uarts", "controllers",
                     "secureboot", "nvram")


def _restore_settings(state: dict[str, Any], vm: dict[str, Any], snap: dict[str, Any]) -> None:
    """The snapshot's hardware back; each hard disk on a new differencing image of the medium
    the snapshot froze, and the current state's own differencing images gone, as VirtualBox's
    restore does (the stand-in's images are whole copies, so the disks' content goes back too).
    A snapshot the stand-in took before it kept settings only moves the current snapshot."""
    saved = snap.get("machine")
    if saved is None:
        return
    media: dict[str, dict[str, Any]] = state["media"]
    for slot in _hard_disk_slots(vm):
        medium = media.get(slot["medium"])
        if medium and medium["parent"] and not any(m["parent"] == medium["uuid"]
                                                   for m in media.values()):
            del media[slot["medium"]]  # the current state's differencing image
            Path(slot["medium"]).unlink(missing_ok=True)
    vm.update(copy.deepcopy(saved))
    _freeze_disks(state, vm)


def _hard_disk_slots(vm: dict[str, Any]) -> list[dict[str, Any]]:
    return [slot for ctl in vm["controllers"] for slot in ctl["attachments"].values()
            if slot["type"] == "hdd" and slot["medium"]]


def _freeze_disks(state: dict[str, Any], vm: dict[str, Any]) -> list[str]:
    """`snapshot take` moves each hard disk onto a new differencing image; the media it froze.

    Real 7.2 (checked with VBoxManage 7.2.22, docs/virtualbox.md "Backups"): showvminfo's
    `<ctl>-ImageUUID-<p>-<d>` becomes a new image `Snapshots/{uuid}.vdi` whose `Parent UUID`
    (showmediuminfo, list hdds) is the medium the slot had, which stays as it was. VirtualBox's
    child holds only the changes; the stand-in's holds a whole copy, so what the guest sees
    (and what a copy of either medium holds) is the same.
    """
    import shutil  # imported here: each call of the double pays for its imports

    frozen = []
    for slot in _hard_disk_slots(vm):
        parent = state["media"].get(slot["medium"])
        if parent is None:
            continue
        uuid = new_uuid()
        child = Path(vm["folder"]) / "Snapshots" / f"{{{uuid}}}.{parent['format'].lower()}"
        child.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(slot["medium"], child)
        state["media"][str(child)] = {"uuid": uuid, "format": parent["format"],
                                      "size_mb": parent["size_mb"], "parent": parent["uuid"]}
        frozen.append(parent["uuid"])
        slot.update(medium=str(child), uuid=uuid)
    return frozen


def _merge_frozen(state: dict[str, Any], vm: dict[str, Any], snap: dict[str, Any]) -> None:
    """`snapshot delete` merges each medium the snapshot froze with its one child.

    Real 7.2 (as above): a frozen base medium takes the child's content back and the slot is on
    the base again; a frozen differencing medium is merged forward — it goes, and the child
    then hangs from the grandparent.
    """
    import shutil  # imported here: each call of the double pays for its imports

    media: dict[str, dict[str, Any]] = state["media"]
    for frozen in snap.get("frozen", []):
        parent_path = next((p for p, m in media.items() if m["uuid"] == frozen), None)
        children = [(p, m) for p, m in media.items() if m["parent"] == frozen]
        if parent_path is None or len(children) != 1:
            continue
        parent, (child_path, child) = media[parent_path], children[0]
        if parent["parent"]:
            child["parent"] = parent["parent"]
            del media[parent_path]
            Path(parent_path).unlink(missing_ok=True)
            continue
        shutil.copyfile(child_path, parent_path)
        for medium in media.values():
            if medium["parent"] == child["uuid"]:
                medium["parent"] = frozen
        for slot in _hard_disk_slots(vm):
            if slot["uuid"] == child["uuid"]:
                slot.update(medium=parent_path, uuid=frozen)
        for other in vm["snapshots"]:
            other["frozen"] = [frozen if u == child["uuid"] else u for u in other.get("frozen", [])]
        del media[child_path]
        Path(child_path).unlink(missing_ok=True)


def clonevm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """clonevm <vm> --name --uuid --register [--snapshot] [--options=link] [--mode]."""
    vm = vm_ref(state, args[0], "VBoxManageMisc.cpp")
    parsed = parse(args[1:], {"--name", "--uuid", "--register", "--snapshot", "--options",
                              "--mode", "--basefolder"}, flags=frozenset({"--register"}))
    linked = "link" in parsed.get("--options").split(",")
    if linked and not parsed.get("--snapshot"):
        raise Fail(error_lines("Linked clones need a snapshot (--snapshot)"))
    if parsed.get("--snapshot"):
        _snapshot(vm, parsed.get("--snapshot"))
    name = parsed.get("--name") or f"{vm['name']} Clone"
    new_id = (parsed.get("--uuid") or new_uuid()).lower()
    folder = Path(state["machine_folder"]) / safe_file_name(name)
    clone = copy.deepcopy(vm)
    clone.update(uuid=new_id, name=name, folder=str(folder), snapshots=[], current="",
                 state="poweroff", cfg=str(folder / f"{safe_file_name(name)}.vbox"))
    for nic in clone["nics"].values():
        nic["mac"] = new_mac()
    new_folder = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _clone_disks(state, clone, folder, name, linked=linked, ctx=ctx)
        # Ctrl+C cancels VBoxManage's progress wait only: once the copy is done it registers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:  # VirtualBox removes what the cancelled clone wrote
        if new_folder:
            import shutil  # imported here: each call of the double pays for its imports

            shutil.rmtree(folder, ignore_errors=True)
        raise
    state["vms"][new_id] = clone
    write_settings_file(clone)
    ctx["out"] += f'Machine has been successfully cloned as "{name}"\n'


def _clone_disks(state: dict[str, Any], clone: dict[str, Any], folder: Path, name: str, *,
                 linked: bool, ctx: Context) -> None:
    """Copy (or, linked, make differencing images of) the clone's disks, with progress."""
    ctx["progress"]()
    for index, slot in enumerate(
            [s for c in clone["controllers"] for s in c["attachments"].values()
             if s["type"] == "hdd" and s["medium"]], start=1):
        source = slot["medium"]
        disk_uuid = new_uuid()
        if linked:
            target = folder / "Snapshots" / f"{{{disk_uuid}}}.vdi"
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(b"differencing image\n")
        else:
            target = folder / f"{safe_file_name(name)}-disk{index:03}.vdi"
            import shutil  # imported here: each call of the double pays for its imports

            shutil.copyfile(source, target)
        parent = state["media"].get(source, {}).get("uuid", "") if linked else ""
        state["media"][str(target)] = {"uuid": disk_uuid, "format": "VDI", "parent": parent,
                                       "size_mb": state["media"].get(source, {}).get("size_mb", 1)}
        slot.update(medium=str(target), uuid=disk_uuid)


def guestproperty(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """guestproperty enumerate <vm> [--patterns ...] (no Guest Additions in the double)."""
    if not args or args[0] != "enumerate":
        raise syntax("Invalid parameter")
    vm_ref(state, args[1], "VBoxManageGuestProp.cpp")
    ctx["out"] += "No properties found.\n"
