"""A fake Hyper-V for the PowerShell double: its JSON state, inventory and configuration ops.

Stdlib only (it runs inside the double, a separate process). Disks are real small files so
that tests can check what exists on disk; their content says what a VHD would be.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_SWITCH_ID = "c08cb7b8-9b3c-408e-8e30-5e16a3aeb444"
GIB = 1024**3

State = dict[str, Any]
Args = dict[str, Any]


class HyperVError(Exception):
    """An error the way the dispatcher reports one (category, fqid, type)."""

    def __init__(self, fqid: str, message: str, category: str = "InvalidOperation",
                 type_name: str = "System.Exception") -> None:
        super().__init__(message)
        self.payload = {"category": category, "message": message, "fqid": fqid,
                        "type": type_name, "target": "", "position": "", "inner": ""}


def initial_state(root: Path) -> State:
    """A host with two switches (one the Default Switch) and no VMs."""
    return {
        "host": {
            "ComputerName": "FAKE-HYPERV", "LogicalProcessorCount": 8,
            "MemoryCapacity": 32 * GIB, "VirtualMachinePath": str(root / "Hyper-V"),
            "VirtualHardDiskPath": str(root / "Hyper-V" / "Virtual Hard Disks"),
            "OsVersion": "10.0.22631.0", "TpmSupported": True, "NestedSupported": True,
            # Win32_Processor.Manufacturer: "GenuineIntel" / "AuthenticAMD" (host_info.ps1)
            "ProcessorManufacturer": "GenuineIntel",
            "SecureBootTemplates": ["MicrosoftWindows", "MicrosoftUEFICertificateAuthority",
                                    "OpenSourceShieldedVM"],
        },
        "switches": [
            {"Name": "Default Switch", "Id": DEFAULT_SWITCH_ID, "SwitchType": "Internal",
             "NetAdapterInterfaceDescription": ""},
            {"Name": "LAN ‘external’", "Id": "5d7a1e52-1a33-4a9c-9d0e-2c4ab1e0f001",
             "SwitchType": "External",
             "NetAdapterInterfaceDescription": "Intel(R) Ethernet Connection"},
        ],
        "probe": {"hyperv": True, "can_manage": True},
        "vms": {}, "faults": {}, "log": [], "typed": [], "ps51_quirks": False,
    }


# -- helpers -----------------------------------------------------------------------------------
def fail(fqid: str, message: str, category: str = "InvalidOperation") -> HyperVError:
    return HyperVError(fqid, message, category)


def get_vm(state: State, vm_id: str) -> dict[str, Any]:
    try:
        key = str(uuid.UUID(vm_id))
    except ValueError:
        raise fail("DesktopVM.MachineNotFound", f"No machine with id {vm_id}",
                   "ObjectNotFound") from None
    vm: dict[str, Any] | None = state["vms"].get(key)
    if vm is None:
        raise fail("DesktopVM.MachineNotFound", f"No machine with id {vm_id}", "ObjectNotFound")
    settle(vm)
    return vm


def settle(vm: dict[str, Any]) -> None:
    """A guest shutdown finishes a moment after it was asked for."""
    if vm.get("SettleAt") and time.time() >= vm["SettleAt"]:
        vm["State"] = vm.pop("SettleTo")
        vm.pop("SettleAt")


def assert_state(vm: dict[str, Any], allowed: tuple[str, ...], action: str) -> None:
    if vm["State"] not in allowed:
        raise fail("DesktopVM.InvalidState", f"{vm['Name']} is {vm['State']}; it must be "
                   f"{' or '.join(allowed)} to {action}")


def write_vhd(path: str, size: int, vhd_type: str = "Dynamic", parent: str = "") -> None:
    target = Path(path)
    if target.exists():
        raise fail("InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.NewVhd",
                   f"The file exists: {path}", "InvalidArgument")
    target.parent.mkdir(parents=True, exist_ok=True)
    fmt = "VHD" if path.lower().endswith(".vhd") else "VHDX"
    target.write_text(json.dumps({"VhdFormat": fmt, "VhdType": vhd_type, "Size": size,
                                  "ParentPath": parent}), encoding="utf-8")


def read_vhd(path: str) -> dict[str, Any]:
    target = Path(path)
    if not target.is_file():
        raise fail("ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.GetVHD",
                   f"The system cannot find the file {path}", "ObjectNotFound")
    data = json.loads(target.read_text(encoding="utf-8"))
    return {"Path": path, "VhdFormat": data["VhdFormat"], "VhdType": data["VhdType"],
            "Size": data["Size"], "FileSize": 4 * 1024 * 1024, "ParentPath": data["ParentPath"],
            "BlockSize": 32 * 1024 * 1024, "LogicalSectorSize": 512, "PhysicalSectorSize": 4096}


def unique_folder(state: State, name: str) -> Path:
    root = Path(state["host"]["VirtualMachinePath"])
    folder = root / name
    if folder.exists():
        folder = root / f"{name}-{uuid.uuid4().hex[:8]}"
    return folder


def summary(vm: dict[str, Any]) -> dict[str, Any]:
    return {key: vm[key] for key in ("Id", "Name", "State", "Generation", "ProcessorCount",
                                     "MemoryStartup", "Version")}


HARDWARE = ("Processor", "Memory", "Firmware", "BootOrder", "HardDrives", "DvdDrives",
            "NetworkAdapters", "ComPorts", "Notes")


# -- host and inventory -------------------------------------------------------------------------
def op_probe(state: State, args: Args) -> Any:
    can = state["probe"]["can_manage"]
    return {"ModuleVersion": "2.0.0.0", "OsVersion": state["host"]["OsVersion"],
            "IsAdministrator": False, "IsHyperVAdmin": can, "CanManage": can,
            "Error": "" if can else "You do not have the required permission to complete this "
            "task. Contact the administrator of the authorization policy for the computer "
            "'FAKE-HYPERV'.", "ErrorCategory": "" if can else "PermissionDenied"}


def op_host_info(state: State, args: Args) -> Any:
    return {**state["host"], "Switches": state["switches"]}


def op_list_vms(state: State, args: Args) -> Any:
    rows = []
    for vm in state["vms"].values():
        settle(vm)
        rows.append(summary(vm))
    return {"VMs": rows}


def op_get_vm(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    result = summary(vm)
    for key in (*HARDWARE, "Path", "CurrentCheckpointId", "ScsiControllerCount"):
        result[key] = copy.deepcopy(vm[key])
    for drive in result["HardDrives"]:
        try:
            vhd = read_vhd(drive["Path"])
            drive["Size"], drive["VhdFormat"] = vhd["Size"], vhd["VhdFormat"]
        except HyperVError:
            drive["Size"], drive["VhdFormat"] = 0, ""
    result["Checkpoints"] = [{k: v for k, v in c.items() if k != "Hardware"}
                             for c in vm["Checkpoints"]]
    return result


def op_guest_addresses(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    running = vm["State"] == "Running"
    return {"Addresses": [a for nic in vm["NetworkAdapters"] for a in nic["IPAddresses"]]
            if running else []}


# -- create, change, delete ---------------------------------------------------------------------
def _assert_own_disk(disk: Path) -> None:
    """common.ps1 Assert-DvmOwnDisk: an existing disk is no link and no differencing disk."""
    if disk.is_symlink():
        raise fail("DesktopVM.UnsafeImage", f"{disk.name} is a link to another file; attach "
                   "the disk file itself; refused", "SecurityError")
    parent = read_vhd(str(disk))["ParentPath"]
    if parent:
        raise fail("DesktopVM.UnsafeImage", f"{disk.name} is a differencing disk of {parent}; "
                   "attach a self-contained (merged) copy instead; refused",
                   "SecurityError")


def _attach_disk(vm: dict[str, Any], disk: dict[str, Any], folder: Path,
                 created: list[str]) -> str:
    path = disk["Path"] or str(folder / "Virtual Hard Disks" / disk["FileName"])
    if disk["Create"]:
        write_vhd(path, int(disk["SizeBytes"]))
        created.append(path)
    elif not Path(path).exists():
        raise fail("ObjectNotFound,Microsoft.HyperV.PowerShell.Commands.AddVMHardDiskDrive",
                   f"The system cannot find the file {path}", "ObjectNotFound")
    else:
        _assert_own_disk(Path(path))
    slot = (disk["ControllerType"], disk["ControllerNumber"], disk["ControllerLocation"])
    taken = {(d["ControllerType"], d["ControllerNumber"], d["ControllerLocation"])
             for d in vm["HardDrives"] + vm["DvdDrives"]}
    if slot in taken:
        raise fail("InvalidParameter,Microsoft.HyperV.PowerShell.Commands.AddVMHardDiskDrive",
                   f"The location {slot} is in use", "InvalidArgument")
    if vm["Generation"] == 2 and path.lower().endswith(".vhd"):
        # "Generation 2 virtual machines only support VHDX format virtual hard drives" --
        # Generation 2 Virtual Machine Overview (technet dn282285, 2012 R2 FAQ); review H3.
        raise fail("InvalidParameter,Microsoft.HyperV.PowerShell.Commands.AddVMHardDiskDrive",
                   "Generation 2 virtual machines support VHDX disks only", "InvalidArgument")
    if vm["Generation"] == 2 and disk["ControllerType"] == "IDE":
        raise fail("InvalidParameter,Microsoft.HyperV.PowerShell.Commands.AddVMHardDiskDrive",
                   "Generation 2 virtual machines have no IDE controller", "InvalidArgument")
    if disk["ControllerType"] == "SCSI":
        vm["ScsiControllerCount"] = max(vm["ScsiControllerCount"], disk["ControllerNumber"] + 1)
    vm["HardDrives"].append({"ControllerType": disk["ControllerType"],
                             "ControllerNumber": disk["ControllerNumber"],
                             "ControllerLocation": disk["ControllerLocation"], "Path": path})
    return path


def _dvd(vm: dict[str, Any], dvd: dict[str, Any]) -> None:
    kind = "SCSI" if vm["Generation"] == 2 else "IDE"
    if kind == "SCSI":
        vm["ScsiControllerCount"] = max(vm["ScsiControllerCount"], dvd["ControllerNumber"] + 1)
    vm["DvdDrives"].append({"ControllerType": kind, "ControllerNumber": dvd["ControllerNumber"],
                            "ControllerLocation": dvd["ControllerLocation"], "Path": dvd["Path"]})


def _switch(state: State, name: str) -> dict[str, Any] | None:
    if not name:
        return None
    switches: list[dict[str, Any]] = state["switches"]
    for switch in switches:
        if switch["Name"] == name:
            return switch
    raise fail("ObjectNotFound,Microsoft.HyperV.PowerShell.Commands.ConnectVMNetworkAdapter",
               f"No switch named {name}", "ObjectNotFound")


def _set_nic(state: State, nic: dict[str, Any], adapter: dict[str, Any]) -> None:
    switch = _switch(state, adapter["SwitchName"])
    nic["SwitchName"] = switch["Name"] if switch else ""
    nic["SwitchId"] = switch["Id"] if switch else ""
    if adapter["MacAddress"]:
        nic["MacAddress"], nic["DynamicMacAddressEnabled"] = adapter["MacAddress"], False
    else:
        nic["MacAddress"], nic["DynamicMacAddressEnabled"] = "000000000000", True


def _nic(state: State, adapter: dict[str, Any]) -> dict[str, Any]:
    nic = {"Name": "Network Adapter", "IsLegacy": False, "IPAddresses": []}
    _set_nic(state, nic, adapter)
    return nic


def op_create_vm(state: State, args: Args) -> Any:
    folder = unique_folder(state, args["FolderName"])
    folder.mkdir(parents=True)
    vm_id = str(uuid.uuid4())
    generation = int(args["Generation"])
    dynamic = bool(args.get("DynamicMemory", False))
    vm: dict[str, Any] = {
        "Id": vm_id, "Name": args["Name"], "State": "Off", "Generation": generation,
        "ProcessorCount": int(args.get("ProcessorCount", 1)),
        "MemoryStartup": int(args["MemoryStartupBytes"]), "Version": "11.0",
        "Notes": args.get("Notes", ""), "Path": str(folder), "CurrentCheckpointId": "",
        "CheckpointType": "Standard",
        "Processor": {"Count": int(args.get("ProcessorCount", 1)),
                      "ExposeVirtualizationExtensions": bool(args.get("NestedVirtualization"))},
        "Memory": {"Startup": int(args["MemoryStartupBytes"]), "DynamicMemoryEnabled": dynamic,
                   "Minimum": int(args.get("MemoryMinimumBytes", 0)) if dynamic else 512 << 20,
                   "Maximum": int(args.get("MemoryMaximumBytes", 0)) if dynamic else 1 << 40},
        "Firmware": {"SecureBoot": "Off", "SecureBootTemplate": "", "TpmEnabled": False},
        "BootOrder": [], "HardDrives": [], "DvdDrives": [], "NetworkAdapters": [],
        "ScsiControllerCount": 1 if generation == 2 else 0,
        "ComPorts": [{"Number": 1, "Path": ""}, {"Number": 2, "Path": ""}], "Checkpoints": [],
    }
    created: list[str] = []
    try:
        paths = [_attach_disk(vm, disk, folder, created) for disk in args.get("Disks", [])]
        for dvd in args.get("DvdDrives", []):
            _dvd(vm, dvd)
        vm["NetworkAdapters"] = [_nic(state, a) for a in args.get("NetworkAdapters", [])]
        for port in args.get("ComPorts", []):
            vm["ComPorts"][int(port["Number"]) - 1]["Path"] = port["Path"]
        if generation == 2:
            template = args.get("SecureBootTemplate") or "MicrosoftWindows"
            secure = bool(args.get("SecureBoot"))
            vm["Firmware"] = {"SecureBoot": "On" if secure else "Off",
                              "SecureBootTemplate": template, "TpmEnabled": bool(args.get("Tpm"))}
        vm["BootOrder"] = list(args.get("BootOrder", [])) or ["disk", "optical", "network"]
    except HyperVError:
        for path in created:
            Path(path).unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    state["vms"][vm_id] = vm
    return {"Id": vm_id, "Folder": str(folder), "Disks": paths}


def op_rename_vm(state: State, args: Args) -> Any:
    get_vm(state, args["Id"])["Name"] = args["Name"]


def op_set_notes(state: State, args: Args) -> Any:
    get_vm(state, args["Id"])["Notes"] = args.get("Notes", "")


def op_set_processor(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off",), "change its processors")
    vm["Processor"] = {"Count": int(args.get("Count", 1)),
                       "ExposeVirtualizationExtensions": bool(args.get("NestedVirtualization"))}
    vm["ProcessorCount"] = vm["Processor"]["Count"]


def op_set_memory(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off",), "change its memory")
    dynamic = bool(args.get("DynamicMemory"))
    vm["Memory"] = {"Startup": int(args["StartupBytes"]), "DynamicMemoryEnabled": dynamic,
                    "Minimum": int(args.get("MinimumBytes", 0)) if dynamic else 512 << 20,
                    "Maximum": int(args.get("MaximumBytes", 0)) if dynamic else 1 << 40}
    vm["MemoryStartup"] = vm["Memory"]["Startup"]


def op_set_firmware(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off",), "change its firmware")
    if vm["Generation"] != 2:
        raise fail("DesktopVM.Unsupported", "Generation 1 machines have no UEFI, Secure Boot or "
                   "TPM")
    vm["Firmware"] = {"SecureBoot": "On" if args.get("SecureBoot") else "Off",
                      "SecureBootTemplate": args.get("SecureBootTemplate") or
                      vm["Firmware"]["SecureBootTemplate"], "TpmEnabled": bool(args.get("Tpm"))}


def op_set_boot_order(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off",), "change its boot order")
    vm["BootOrder"] = list(args.get("BootOrder", []))


def op_set_com_ports(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off",), "change its serial ports")
    for port in args.get("ComPorts", []):
        vm["ComPorts"][int(port["Number"]) - 1]["Path"] = port["Path"]


def op_update_storage(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    remove, add = args.get("Remove", []), args.get("AddDisks", [])
    dvds = args.get("AddDvdDrives", [])
    if remove or add or dvds:
        assert_state(vm, ("Off",), "add or remove drives")
    for slot in remove:
        key = "DvdDrives" if slot["Kind"] == "dvd" else "HardDrives"
        vm[key] = [d for d in vm[key] if (d["ControllerType"], d["ControllerNumber"],
                                          d["ControllerLocation"]) != (
            slot["ControllerType"], slot["ControllerNumber"], slot["ControllerLocation"])]
    created: list[str] = []
    paths = [_attach_disk(vm, disk, Path(vm["Path"]), created) for disk in add]
    for dvd in dvds:
        _dvd(vm, dvd)
    for change in args.get("Media", []):
        for drive in vm["DvdDrives"]:
            if (drive["ControllerNumber"], drive["ControllerLocation"]) == (
                    change["ControllerNumber"], change["ControllerLocation"]):
                drive["Path"] = change["Path"]
    return {"Disks": paths}


def op_update_network(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    adapters = args.get("Adapters", [])
    if any(a["Action"] != "connect" for a in adapters):
        assert_state(vm, ("Off",), "add, remove or re-address adapters")
    existing = list(vm["NetworkAdapters"])
    removed: list[int] = []
    for adapter in adapters:
        if adapter["Action"] == "add":
            vm["NetworkAdapters"].append(_nic(state, adapter))
        elif adapter["Index"] < len(existing):
            nic = existing[adapter["Index"]]
            if adapter["Action"] == "remove":
                removed.append(id(nic))
            elif adapter["Action"] == "connect":
                switch = _switch(state, adapter["SwitchName"])
                nic["SwitchName"] = switch["Name"] if switch else ""
                nic["SwitchId"] = switch["Id"] if switch else ""
            else:
                _set_nic(state, nic, adapter)
    vm["NetworkAdapters"] = [n for n in vm["NetworkAdapters"] if id(n) not in removed]


def op_remove_vm(state: State, args: Args) -> Any:
    vm = get_vm(state, args["Id"])
    assert_state(vm, ("Off", "Saved"), "be deleted")
    disks = [d["Path"] for d in vm["HardDrives"]]
    for checkpoint in vm["Checkpoints"]:
        disks += [d["Path"] for d in checkpoint["Hardware"]["HardDrives"] if d["Path"] not in disks]
    del state["vms"][vm["Id"]]
    removed = []
    if args.get("DeleteDisks"):
        for path in disks:
            if Path(path).exists():
                Path(path).unlink()
                removed.append(path)
        folder = Path(vm["Path"])
        for sub in ("Virtual Hard Disks", ""):
            target = folder / sub if sub else folder
            if target.is_dir() and not any(target.iterdir()):
                target.rmdir()
    return {"Disks": disks, "Removed": removed}
