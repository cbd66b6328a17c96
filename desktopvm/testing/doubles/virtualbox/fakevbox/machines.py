"""The double's machine commands: createvm, modifyvm, storagectl/-attach, unregister, extradata."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox.options import modifyvm_options, parse
from desktopvm.testing.doubles.virtualbox.fakevbox.state import (
    Fail,
    Vm,
    error_lines,
    locked,
    new_mac,
    new_uuid,
    new_vm,
    safe_file_name,
    series,
    syntax,
    vm_ref,
    write_settings_file,
)

OFFLINE = ("poweroff", "aborted")
NIC_KINDS = {"none", "null", "nat", "bridged", "intnet", "hostonly", "hostonlynet", "natnetwork",
             "generic"}
CONTROLLER_TYPES = {"PIIX3": "ide", "PIIX4": "ide", "ICH6": "ide", "IntelAhci": "sata",
                    "LSILogic": "scsi", "LsiLogic": "scsi", "BusLogic": "scsi", "NVMe": "pcie",
                    "VirtIO": "virtio-scsi"}
MAX_PORTS = {"ide": 2, "sata": 30, "scsi": 16, "pcie": 255, "virtio-scsi": 256}
# Port counts a new controller starts with (StorageController.cpp).
DEFAULT_PORTS = {"ide": 2, "sata": 30, "scsi": 16, "pcie": 1, "virtio-scsi": 1}
FIXED_PORTS = {"ide", "scsi"}
SHOWN_TYPES = {"LSILogic": "LsiLogic", "VirtIO": "VirtioSCSI"}
Context = dict[str, Any]


def _require_offline(vm: Vm, allow_saved: bool = False) -> None:
    allowed = (*OFFLINE, "saved") if allow_saved else OFFLINE
    if vm["state"] not in allowed:
        raise locked(vm["name"])


def createvm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """createvm --name --ostype --uuid --register [--platform-architecture] [--basefolder]."""
    accepted = {"--name", "--ostype", "--uuid", "--register", "--basefolder", "--groups"}
    if series(state) >= (7, 1):
        accepted.add("--platform-architecture")
    parsed = parse(args, accepted, flags=frozenset({"--register"}))
    name = parsed.get("--name")
    if not name:
        raise syntax("Parameter --name is required")
    uuid = (parsed.get("--uuid") or new_uuid()).lower()
    if uuid in state["vms"]:
        raise Fail(error_lines(f"A machine with UUID {{{uuid}}} already exists"))
    base = Path(parsed.get("--basefolder") or state["machine_folder"])
    folder = base / safe_file_name(name)
    vm = new_vm(name, parsed.get("--ostype", "Other"), uuid, folder)
    # What a real createvm sets up (7.2.22, tests/data/virtualbox/7.2/showvminfo_ubuntu_made_by_
    # virtualbox.txt): 1024 MB and adapter 1 on NAT.
    vm["memory"] = 1024
    _set_nic(vm, 1)
    if Path(vm["cfg"]).exists():
        raise Fail(error_lines(f"Machine settings file '{vm['cfg']}' already exists",
                               "Details: code VBOX_E_FILE_ERROR (0x80bb0004), component "
                               "MachineWrap, interface IMachine"))
    if parsed.has("--register"):
        state["vms"][uuid] = vm
    write_settings_file(vm)
    ctx["out"] += (f"Virtual machine '{name}' is created and registered.\nUUID: {uuid}\n"
                   f"Settings file: '{vm['cfg']}'\n")


def _set_nic(vm: Vm, number: int, **values: Any) -> None:
    nic = vm["nics"].setdefault(str(number), {"type": "nat", "net": "", "nictype": "82540EM",
                                               "mac": new_mac(), "cable": True, "forwards": []})
    nic.update(values)


def modifyvm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """modifyvm <vm> options...: only while off (name/description also when saved)."""
    if not args:
        raise syntax("Not enough parameters")
    vm = vm_ref(state, args[0], "VBoxManageModifyVM.cpp")
    parsed = parse(args[1:], modifyvm_options(series(state)))
    only_names = all(n in ("--name", "--description") for n, _, _ in parsed.options)
    _require_offline(vm, allow_saved=only_names)
    for name, number, values in parsed.options:
        _apply(vm, name, number, values)
    write_settings_file(vm)


def _apply(vm: Vm, name: str, number: int, values: list[str]) -> None:  # noqa: PLR0912
    value = values[0]
    simple = {"--name": "name", "--description": "description", "--ostype": "ostype",
              "--os-type": "ostype", "--graphicscontroller": "graphics"}
    numbers = {"--memory": "memory", "--vram": "vram", "--cpus": "cpus",
               "--monitorcount": "monitors", "--monitor-count": "monitors"}
    if name in simple:
        vm[simple[name]] = value
    elif name in numbers:
        vm[numbers[name]] = int(value)
    elif name == "--firmware":
        vm["firmware"] = {"bios": "BIOS", "efi": "EFI", "efi32": "EFI32", "efi64": "EFI64"}[value]
    elif name == "--tpm-type":
        vm["tpm"] = value
    elif name in ("--nested-hw-virt", "--x86-nested-hw-virt"):
        vm["nested"] = value == "on"
    elif name == "--mouse":
        vm["mouse"] = {"usbtablet": "usbtablet", "ps2": "ps2mouse", "usb": "usbmouse"}[value]
    elif name == "--bootN":
        vm["boot"][number - 1] = value
    elif name in ("--usbohci", "--usb-ohci", "--usbehci", "--usb-ehci", "--usbxhci", "--usb-xhci"):
        vm["usb"][name[-4:]] = value == "on"
    elif name == "--nicN":
        if value not in NIC_KINDS:
            raise Fail(error_lines(f"Invalid type '{value}' specfied for NIC {number}"))
        if value == "none":
            vm["nics"].pop(str(number), None)
        else:
            _set_nic(vm, number, type=value)
    elif name in ("--nictypeN", "--nic-typeN"):
        _set_nic(vm, number, nictype=value)
    elif name in ("--macaddressN", "--mac-addressN"):
        _set_nic(vm, number, mac=new_mac() if value == "auto" else value.upper())
    elif name in ("--cableconnectedN", "--cable-connectedN"):
        _set_nic(vm, number, cable=value == "on")
    elif name in ("--bridgeadapterN", "--bridge-adapterN", "--hostonlyadapterN",
                  "--host-only-adapterN", "--intnetN", "--natnetworkN", "--nat-networkN",
                  "--host-only-netN"):
        _set_nic(vm, number, net=value)
    elif name in ("--natpfN", "--nat-pfN"):
        forwards = vm["nics"][str(number)]["forwards"]
        if value == "delete":
            forwards[:] = [f for f in forwards if f.split(",")[0] != values[1]]
        else:
            forwards.append(value)
    elif name == "--uartN":
        if value == "off":
            vm["uarts"].pop(str(number), None)
        else:
            vm["uarts"][str(number)] = {"io": value, "irq": values[1], "mode": "disconnected"}
    elif name in ("--uartmodeN", "--uart-modeN"):
        vm["uarts"].setdefault(str(number), {"io": "0x3F8", "irq": "4"})["mode"] = \
            ",".join(values)


def storagectl(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """storagectl <vm> --name [--add --controller --portcount --bootable | --remove]."""
    if len(args) < 4:  # real VBoxManage counts arguments first (7.2.22: `--name=X --remove`)
        raise syntax("Too few parameters")
    vm = vm_ref(state, args[0], "VBoxManageStorageController.cpp")
    parsed = parse(args[1:], {"--name", "--add", "--controller", "--portcount", "--bootable",
                              "--remove", "--hostiocache"}, flags=frozenset({"--remove"}))
    _require_offline(vm)
    name = parsed.get("--name")
    existing = next((c for c in vm["controllers"] if c["name"] == name), None)
    if parsed.has("--remove"):
        if existing is None:
            raise Fail(error_lines(f"Could not find a storage controller named '{name}'"))
        vm["controllers"].remove(existing)
    elif parsed.has("--add"):
        if existing is not None:
            raise Fail(error_lines(f"Storage controller named '{name}' already exists"))
        bus = parsed.get("--add")
        chip = parsed.get("--controller")
        if CONTROLLER_TYPES.get(chip, bus) != bus:
            raise Fail(error_lines(f"Invalid --controller argument '{chip}'"))
        ports = int(parsed.get("--portcount", str(DEFAULT_PORTS[bus])))
        _check_ports(bus, ports)
        vm["controllers"].append({"name": name, "bus": bus, "type": SHOWN_TYPES.get(chip, chip),
                                  "portcount": ports, "maxports": MAX_PORTS[bus],
                                  "attachments": {}})
    elif existing is not None and parsed.has("--portcount"):
        _check_ports(existing["bus"], int(parsed.get("--portcount")))
        existing["portcount"] = int(parsed.get("--portcount"))
    write_settings_file(vm)


def _check_ports(bus: str, ports: int) -> None:
    low = DEFAULT_PORTS[bus] if bus in FIXED_PORTS else 1
    if not low <= ports <= MAX_PORTS[bus]:
        raise Fail(error_lines(f"Invalid port count: {ports} (must be in range "
                               f"[{low}, {MAX_PORTS[bus]}])",
                               "Details: code E_INVALIDARG (0x80070057), component "
                               "StorageControllerWrap, interface IStorageController"))


def storageattach(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """storageattach <vm> --storagectl --port --device --type --medium (DVDs also live)."""
    vm = vm_ref(state, args[0], "VBoxManageStorageController.cpp")
    parsed = parse(args[1:], {"--storagectl", "--port", "--device", "--type", "--medium"})
    ctl = next((c for c in vm["controllers"] if c["name"] == parsed.get("--storagectl")), None)
    if ctl is None:
        raise Fail(error_lines(f"Could not find a controller named "
                               f"'{parsed.get('--storagectl')}'"))
    slot = f"{parsed.get('--port', '0')}-{parsed.get('--device', '0')}"
    medium = parsed.get("--medium")
    current = ctl["attachments"].get(slot)
    live_dvd = current is not None and current["type"] == "dvddrive" and \
        parsed.get("--type", "dvddrive") == "dvddrive" and medium != "none"
    if not live_dvd:
        _require_offline(vm)
    if int(parsed.get("--port", "0")) >= ctl["portcount"]:
        raise Fail(error_lines(f"The port number {parsed.get('--port')} specified is out of "
                               "range"))
    if medium == "none":
        ctl["attachments"].pop(slot, None)
    else:
        kind = parsed.get("--type", current["type"] if current else "hdd")
        path = "" if medium == "emptydrive" else str(Path(medium).resolve())
        record = state["media"].get(path)
        if path and kind == "hdd" and record is None:
            if not Path(path).is_file():
                raise Fail(error_lines(f"Could not find file for the medium '{path}' "
                                       "(VERR_FILE_NOT_FOUND)"))
            record = state["media"][path] = {"uuid": new_uuid(), "format": "VDI",
                                             "size_mb": 1, "parent": ""}
        ctl["attachments"][slot] = {"type": kind, "medium": path,
                                    "uuid": record["uuid"] if record else new_uuid()}
    write_settings_file(vm)


def unregistervm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """unregistervm <vm> [--delete]: --delete removes disks, state and settings files."""
    vm = vm_ref(state, args[0], "VBoxManageMisc.cpp")
    parsed = parse(args[1:], {"--delete", "--delete-all"},
                   flags=frozenset({"--delete", "--delete-all"}))
    _require_offline(vm, allow_saved=True)
    del state["vms"][vm["uuid"]]
    if not (parsed.has("--delete") or parsed.has("--delete-all")):
        state["unregistered"][vm["cfg"]] = vm
        return
    children = {m.get("parent") for m in state["media"].values()}
    for ctl in vm["controllers"]:
        for slot in ctl["attachments"].values():
            path = slot["medium"]
            if slot["type"] == "hdd" and path:
                record = state["media"].get(path)
                if record is not None and record["uuid"] in children:
                    continue  # a linked clone still hangs from it: VirtualBox keeps it
                Path(path).unlink(missing_ok=True)
                state["media"].pop(path, None)
    Path(vm["cfg"]).unlink(missing_ok=True)
    import shutil  # imported here: each call of the double pays for its imports

    shutil.rmtree(Path(vm["folder"]) / "Snapshots", ignore_errors=True)
    shutil.rmtree(Path(vm["folder"]) / "Logs", ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(vm["folder"]).rmdir()


def registervm(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """registervm <settings file> (of a machine this double unregistered before)."""
    path = args[0] if args else ""
    vm = state["unregistered"].pop(path, None)
    if vm is None or not Path(path).is_file():
        raise Fail(error_lines(f"Could not find file for the machine '{path}'"))
    state["vms"][vm["uuid"]] = vm


def setextradata(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """setextradata <vm> <key> [<value>] (no value deletes)."""
    if len(args) < 2:
        raise syntax("Incorrect number of parameters")
    vm = vm_ref(state, args[0], "VBoxManageMisc.cpp")
    if len(args) > 2 and args[2]:
        vm["extradata"][args[1]] = args[2]
    else:
        vm["extradata"].pop(args[1], None)
    write_settings_file(vm)


def modifynvram(state: dict[str, Any], args: list[str], ctx: Context) -> None:
    """modifynvram (7.0+); `secureboot --enable|--disable` only from 7.1."""
    if series(state) < (7, 0):
        raise syntax("Invalid command 'modifynvram'")
    vm = vm_ref(state, args[0], "VBoxManageModifyNvram.cpp")
    _require_offline(vm)
    command = args[1] if len(args) > 1 else ""
    if vm["firmware"] == "BIOS":
        raise Fail(error_lines("The machine does not use UEFI firmware",
                               "Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component "
                               "NvramStoreWrap, interface INvramStore"))
    if command == "inituefivarstore":
        vm["nvram"], vm["secureboot"], vm["keys"] = True, False, []
    elif command in ("enrollmssignatures", "enrollorclpk") and vm["nvram"]:
        vm.setdefault("keys", []).append(command)
        vm["secureboot"] = "enrollorclpk" in vm["keys"]  # a PK switches Secure Boot on
    elif command == "secureboot" and series(state) >= (7, 1):
        vm["secureboot"] = args[2:3] == ["--enable"]
    else:
        raise syntax(f"Invalid parameter '{command}'")
    write_settings_file(vm)
