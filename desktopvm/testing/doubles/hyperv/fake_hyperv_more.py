"""The fake Hyper-V's lifecycle, checkpoints, copies, disks and console operations."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.hyperv.fake_hyperv import (
    HARDWARE,
    Args,
    State,
    assert_state,
    fail,
    get_vm,
    read_vhd,
    write_vhd,
)


# -- lifecycle ----------------------------------------------------------------------------------
def _transition(state: State, args: Args, allowed: tuple[str, ...], action: str,
                to: str) -> dict[str, Any]:
    vm = get_vm(state, args["Id"])
    assert_state(vm, allowed, action)
    vm["State"] = to
    return vm


def op_start_vm(state: State, args: Args) -> Any:
    vm = _transition(state, args, ("Off", "Saved"), "start", "Running")
    for index, nic in enumerate(vm["NetworkAdapters"]):
        nic["IPAddresses"] = [f"172.20.0.{10 + index}", "fe80::215:5dff:fe00:1"] \
            if nic["SwitchName"] else []


def op_shutdown_vm(state: State, args: Args) -> Any:
    vm = _transition(state, args, ("Running",), "shut down", "Stopping")
    vm["SettleAt"], vm["SettleTo"] = time.time() + 0.2, "Off"


def op_stop_vm(state: State, args: Args) -> Any:
    _transition(state, args, ("Running", "Paused", "Saved", "Starting", "Stopping"),
                "power off", "Off")


def op_restart_vm(state: State, args: Args) -> Any:
    _transition(state, args, ("Running", "Paused"), "reset", "Running")


def op_suspend_vm(state: State, args: Args) -> Any:
    _transition(state, args, ("Running",), "pause", "Paused")


def op_resume_vm(state: State, args: Args) -> Any:
    _transition(state, args, ("Paused",), "resume", "Running")


def op_save_vm(state: State, args: Args) -> Any:
    _transition(state, args, ("Running", "Paused"), "save its state", "Saved")


# -- checkpoints --------------------------------------------------------------------------------
def _checkpoint(vm: dict[str, Any], checkpoint_id: str) -> dict[str, Any]:
    checkpoints: list[dict[str, Any]] = vm["Checkpoints"]
    for checkpoint in checkpoints:
        if checkpoint["Id"] == checkpoint_id:
            return checkpoint
    raise fail("DesktopVM.MachineNotFound", f"No checkpoint with id {checkpoint_id}",
               "ObjectNotFound")


def op_checkpoint_vm(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    if not args.get("IncludeMemory", True) and vm["State"] == "Running" \
            and not vm.get("GuestBackup", True):
        # checkpoint_vm.ps1 sets CheckpointType ProductionOnly: "if the production checkpoint
        # fails a standard checkpoint is not being created" (Microsoft's Hyper-V checkpoints
        # guide, Virtualization-Documentation user-guide/checkpoints.md). A running guest
        # without its backup (VSS) service ("GuestBackup": False) cannot make one; the
        # message is ours, a real host's text is unverified.
        raise fail("Microsoft.HyperV.PowerShell.Commands.CheckpointVM", "Production "
                   f"checkpoints cannot be created for '{vm['Name']}': the guest's backup "
                   "integration service did not respond")
    checkpoint = {
        "Id": str(uuid.uuid4()), "Name": args["Name"],
        "ParentCheckpointId": vm["CurrentCheckpointId"],
        "CreationTime": time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime()),
        "SnapshotType": "Standard" if args.get("IncludeMemory", True) else "Production",
        "State": vm["State"] if args.get("IncludeMemory", True) else "Off",
        "Notes": args.get("Notes", ""),
        "Hardware": {key: copy.deepcopy(vm[key]) for key in HARDWARE},
    }
    vm["Checkpoints"].append(checkpoint)
    vm["CurrentCheckpointId"] = checkpoint["Id"]
    return {k: v for k, v in checkpoint.items() if k != "Hardware"}


def op_restore_checkpoint(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off", "Saved"), "restore a checkpoint")
    checkpoint = _checkpoint(vm, args["CheckpointId"])
    # Applying a checkpoint "applies the disk state, runtime state, and configuration values
    # for a snapshot ... Any disk state, runtime state, or configuration values currently
    # associated with the virtual computer system will be lost" (learn.microsoft.com,
    # ApplyVirtualSystemSnapshot of Msvm_VirtualSystemManagementService): the hardware and the
    # notes (a value of the VM's settings, Msvm_VirtualSystemSettingData.Notes) as they were.
    # [unverified: checkpoint_vm.ps1 writes a checkpoint's description into that same Notes
    # of the checkpoint's settings, so a real host may bring the description back as the
    # notes; the stand-in keeps the two apart]
    for key, value in checkpoint["Hardware"].items():
        vm[key] = copy.deepcopy(value)
    vm["ProcessorCount"] = vm["Processor"]["Count"]
    vm["MemoryStartup"] = vm["Memory"]["Startup"]
    vm["State"] = "Saved" if checkpoint["State"] in ("Running", "Paused") else "Off"
    vm["CurrentCheckpointId"] = checkpoint["Id"]


def op_remove_checkpoint(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    checkpoint = _checkpoint(vm, args["CheckpointId"])
    for child in vm["Checkpoints"]:
        if child["ParentCheckpointId"] == checkpoint["Id"]:
            child["ParentCheckpointId"] = checkpoint["ParentCheckpointId"]
    if vm["CurrentCheckpointId"] == checkpoint["Id"]:
        vm["CurrentCheckpointId"] = checkpoint["ParentCheckpointId"]
    vm["Checkpoints"].remove(checkpoint)


# -- copies -------------------------------------------------------------------------------------
def _export(vm: dict[str, Any], hardware: dict[str, Any], target: Path) -> Path:
    folder: Path = target / vm["Name"]
    (folder / "Virtual Machines").mkdir(parents=True)
    drives = []
    for drive in hardware["HardDrives"]:
        copied = folder / "Virtual Hard Disks" / Path(drive["Path"]).name
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(drive["Path"], copied)
        drives.append({**drive, "Path": str(copied)})
    exported = {**copy.deepcopy(vm), **copy.deepcopy(hardware), "HardDrives": drives,
                "State": "Off", "Checkpoints": [], "CurrentCheckpointId": ""}
    config = folder / "Virtual Machines" / f"{vm['Id'].upper()}.vmcx"
    config.write_text(json.dumps(exported), encoding="utf-8")
    return folder


def _find_configuration(path: Path) -> Path:
    """common.ps1 Find-DvmConfiguration. Windows PowerShell 5.1's Get-ChildItem -LiteralPath
    -Recurse ignores -Include and returns every file ("v5 regression: Get-ChildItem
    -LiteralPath -Recurse ignores -Include", PowerShell/PowerShell#5293), so the double lists
    every file and the script's own extension filter must pick the configuration."""
    if path.is_file():
        return path
    found = sorted((p for p in path.rglob("*") if p.is_file()
                    and p.suffix.lower() in (".vmcx", ".xml")
                    and p.parent.name == "Virtual Machines"), key=lambda p: str(p).lower())
    if not found:
        raise fail("DesktopVM.NotFound", f"No exported Hyper-V machine (.vmcx) in {path}",
                   "ObjectNotFound")
    return found[0]


def _assert_package_disks(configuration: Path) -> None:
    """common.ps1 Assert-DvmPackageDisks: every disk's parent lies inside the export."""
    root = configuration.parent.parent.resolve()
    for disk in sorted(root.rglob("*")):
        if disk.suffix.lower() not in (".vhd", ".vhdx", ".avhd", ".avhdx"):
            continue
        if disk.is_symlink():
            raise fail("DesktopVM.UnsafeImage", f"{disk.name} is a link to another file; a "
                       "package may contain only its own disks; refused", "SecurityError")
        parent = read_vhd(str(disk))["ParentPath"]
        if parent and not Path(parent).resolve().is_relative_to(root):
            raise fail("DesktopVM.UnsafeImage", f"{disk.name} refers to the parent disk "
                       f"{parent} outside the package; a disk from outside must be "
                       "self-contained; refused", "SecurityError")


def _compare(state: State, vm: dict[str, Any]) -> list[str]:
    """common.ps1 Compare-VM + Resolve-DvmIncompatibility.

    Compare-VM's report lists an adapter on a switch this host lacks ("Could not find Ethernet
    switch 'Production'.", MessageId 33012, Source a VMNetworkAdapter), repaired by
    Disconnect-VMNetworkAdapter before Import-VM -CompatibilityReport -- Microsoft's Compare-VM
    reference, Example 2 (MicrosoftDocs/windows-powershell-docs, winserver2022-ps/hyper-v/
    Compare-VM.md). Other incompatibilities (another processor, a missing path) are refused
    with their message; tests plant them as "Incompatibilities" in an export's .vmcx.
    """
    refused = [f"{i['Message']} (Hyper-V message {i['MessageId']})"
               for i in vm.pop("Incompatibilities", [])]
    if refused:
        raise fail("DesktopVM.ImportIncompatible", "This host cannot run the exported machine: "
                   + "; ".join(refused), "InvalidData")
    known = {switch["Name"] for switch in state["switches"]}
    changes = []
    for nic in vm["NetworkAdapters"]:
        if nic["SwitchName"] and nic["SwitchName"] not in known:
            changes.append(f"Network adapter '{nic['Name']}' was connected to switch "
                           f"'{nic['SwitchName']}', which this host does not have; it is now "
                           "not connected")
            nic["SwitchName"], nic["SwitchId"] = "", ""
    return changes


def _import_vm_checks(state: State, vm: dict[str, Any]) -> None:
    """Import-VM itself refuses a configuration Compare-VM would object to (Compare-VM reference,
    Example 2: "Import-VM : Unable to import virtual machine due to configuration errors.
    Please use Compare-VM to repair the virtual machine.")."""
    known = {switch["Name"] for switch in state["switches"]}
    if vm.get("Incompatibilities") or any(
            nic["SwitchName"] and nic["SwitchName"] not in known for nic in vm["NetworkAdapters"]):
        raise fail("Microsoft.HyperV.PowerShell.Commands.ImportVMCommand", "Unable to import "
                   "virtual machine due to configuration errors.  Please use Compare-VM to "
                   "repair the virtual machine.", "NotSpecified")


def _import(state: State, configuration: Path, folder: Path, name: str) -> dict[str, Any]:
    _assert_package_disks(configuration)
    vm = json.loads(configuration.read_text(encoding="utf-8"))
    changes = _compare(state, vm)
    _import_vm_checks(state, vm)
    vm["Id"] = str(uuid.uuid4())
    vm["Name"] = name or vm["Name"]
    vm["Path"] = str(folder)
    drives = []
    for drive in vm["HardDrives"]:
        copied = folder / "Virtual Hard Disks" / Path(drive["Path"]).name
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(drive["Path"], copied)
        drives.append({**drive, "Path": str(copied)})
    vm["HardDrives"] = drives
    state["vms"][vm["Id"]] = vm
    return {"Id": vm["Id"], "Folder": str(folder), "Changes": changes}


def _hardware(vm: dict[str, Any], checkpoint_id: str) -> dict[str, Any]:
    if checkpoint_id:
        return dict(_checkpoint(vm, checkpoint_id)["Hardware"])
    return {key: vm[key] for key in HARDWARE}


def op_clone_vm(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    root = Path(state["host"]["VirtualMachinePath"])
    work = root / (".desktopvm-" + args["WorkName"])
    try:
        exported = _export(vm, _hardware(vm, args.get("CheckpointId", "")), work)
        return _import(state, _find_configuration(exported), root / args["FolderName"],
                       args["Name"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def op_export_vm(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    folder = _export(vm, _hardware(vm, args.get("CheckpointId", "")), Path(args["Path"]))
    return {"Folder": str(folder)}


def op_capture_vm(state: State, args: Args) -> Any:
    """capture_vm.ps1: Export-VM into `Staging`, one whole disk per drive into `Destination`.

    The export's layout is Export-VM's reference (winserver2016-ps/hyper-v/Export-VM.md: a
    folder named after the VM with Snapshots, Virtual Hard Disks and Virtual Machines); a running
    or paused VM is exported as it runs and stays so (CaptureDataConsistentState, "Use
    Production Checkpoint technology"). A differencing disk comes back whole, as Convert-VHD
    -VHDType Dynamic writes it (no ParentPath); the staging folder is removed in every case.
    """
    vm = get_vm(state, args["Id"])
    staging = Path(args["Staging"])
    try:
        folder = _export(vm, _hardware(vm, ""), staging)
        disks = []
        for number, drive in enumerate(vm["HardDrives"]):
            exported = folder / "Virtual Hard Disks" / Path(drive["Path"]).name
            extension = ".vhd" if drive["Path"].lower().endswith((".vhd", ".avhd")) else ".vhdx"
            target = Path(args["Destination"]) / f"disk-{number}{extension}"
            data = read_vhd(str(exported))
            if data["ParentPath"]:
                write_vhd(str(target), data["Size"], "Dynamic")
            else:
                shutil.move(exported, target)
            disks.append({"Source": drive["Path"], "Path": str(target),
                          "Size": read_vhd(str(target))["Size"]})
        return {"State": vm["State"], "Disks": disks}
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def op_import_vm(state: State, args: Args) -> Any:
    root = Path(state["host"]["VirtualMachinePath"])
    configuration = _find_configuration(Path(args["Path"]))
    return _import(state, configuration, root / args["FolderName"], args.get("Name", ""))


def op_remove_path(state: State, args: Args) -> Any:
    target = Path(args["Path"])
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()


# -- disks --------------------------------------------------------------------------------------
def op_get_vhd(state: State, args: Args) -> Any:
    return read_vhd(args["Path"])


def op_new_vhd(state: State, args: Args) -> Any:
    write_vhd(args["Path"], int(args["SizeBytes"]), "Fixed" if args.get("Fixed") else "Dynamic")
    return read_vhd(args["Path"])


def op_resize_vhd(state: State, args: Args) -> Any:
    data = read_vhd(args["Path"])
    Path(args["Path"]).unlink()
    write_vhd(args["Path"], int(args["SizeBytes"]), data["VhdType"], data["ParentPath"])
    return read_vhd(args["Path"])


def op_optimize_vhd(state: State, args: Args) -> Any:
    """optimize_vhd.ps1: "To use Optimize-VHD, the virtual hard disk must not be attached or
    must be attached in read-only mode" (Optimize-VHD reference, learn.microsoft.com/
    powershell/module/hyper-v/optimize-vhd); Get-VHD's Attached is true while a running or
    paused machine holds it. The script mounts it read-only for Full mode."""
    for vm in state["vms"].values():
        if vm["State"] in ("Running", "Paused") and any(
                d["Path"] == args["Path"] for d in vm["HardDrives"]):
            raise fail("DesktopVM.InvalidState", f"{args['Path']} is in use (a running machine "
                       "or a mount has it); shut the machine down to compact it")
    return {**read_vhd(args["Path"]), "CompactedMounted": True}


def op_convert_vhd(state: State, args: Args) -> Any:
    data = read_vhd(args["Path"])
    write_vhd(args["DestinationPath"], data["Size"], args.get("VhdType", "Dynamic"))
    return read_vhd(args["DestinationPath"])


# -- console ------------------------------------------------------------------------------------
def op_thumbnail(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Running", "Paused"), "show its screen")
    width, height = 4, 2  # red, green, blue, white / black, grey, yellow, cyan (RGB565 LE)
    pixels = [0xF800, 0x07E0, 0x001F, 0xFFFF, 0x0000, 0x8410, 0xFFE0, 0x07FF]
    raw = b"".join(p.to_bytes(2, "little") for p in pixels)
    return {"Width": width, "Height": height, "ImageData": base64.b64encode(raw).decode()}


#: "String type / Maximum characters: ASCII 512" -- TypeText method of the Msvm_Keyboard class,
#: https://learn.microsoft.com/en-us/windows/win32/hyperv_v2/typetext-msvm-keyboard . The code a
#: real host returns for a longer string is not documented; 32773 (Invalid parameter) is ours.
TYPE_TEXT_MAX = 512


def op_type_text(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Running",), "type into it")
    if len(args["Text"]) > TYPE_TEXT_MAX:
        raise fail("DesktopVM.WmiFailed", "Typing failed with code 32773")
    state["typed"].append({"Text": args["Text"]})


def op_type_keys(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Running",), "type into it")
    state["typed"].extend(args.get("Combos", []))


# -- doctor ------------------------------------------------------------------------------------
#: doctor.ps1's answer on a healthy Windows 11 host; tests change it through state["doctor"].
#: Sources per field are in the script: Win32_OptionalFeature.InstallState, Get-Service vmms,
#: Win32_ComputerSystem.HypervisorPresent, Win32_Processor.VirtualizationFirmwareEnabled (false
#: while the hypervisor runs), the Hyper-V Administrators SID S-1-5-32-578, Get-VMHost's folders.
DOCTOR = {"OsCaption": "Microsoft Windows 11 Pro", "HyperVFeature": "Enabled",
          "ModulePresent": True, "VmmsRunning": True, "HypervisorPresent": True,
          "VirtualizationFirmwareEnabled": False, "SlatSupported": True,
          "IsAdministrator": False, "FreeBytes": 200 * 1024**3, "TotalBytes": 500 * 1024**3,
          "VirtualBoxVersion": "", "Errors": []}


def op_doctor(state: State, args: Args) -> Any:
    found = {**DOCTOR, **state.get("doctor", {})}
    host = state["host"]
    folders = [{"Kind": kind, "Path": host[kind], "FreeBytes": found["FreeBytes"],
                "TotalBytes": found["TotalBytes"]}
               for kind in ("VirtualMachinePath", "VirtualHardDiskPath")]
    return {**{k: v for k, v in found.items() if k not in ("FreeBytes", "TotalBytes")},
            "OsVersion": host["OsVersion"], "IsHyperVAdmin": state["probe"]["can_manage"],
            "Folders": folders if found["ModulePresent"] else []}
