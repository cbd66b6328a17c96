"""The double's state: a JSON file per fake VirtualBox (locked), and the .vbox files it writes."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from pathlib import Path
from typing import Any

STATE_ENV = "FAKE_VBOX_STATE"
UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
UNSAFE_FILE_CHARS = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
Vm = dict[str, Any]


class Fail(Exception):
    """VBoxManage ending with error lines on stderr."""

    def __init__(self, lines: list[str], exit_code: int = 1, stdout: str = "") -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.exit_code = exit_code
        self.stdout = stdout


def error_lines(*messages: str) -> list[str]:
    """Messages formatted as VBoxManage prints them."""
    return [f"VBoxManage: error: {m}" for m in messages]


def not_found(reference: str, source: str = "VBoxManageInfo.cpp") -> Fail:
    """What VBoxManage says for a machine it cannot find (VBox 7.0 wording)."""
    what = (f"with UUID {{{reference}}}" if UUID.match(reference)
            else f"named '{reference}'")
    return Fail(error_lines(
        f"Could not find a registered machine {what}",
        "Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, "
        "interface IVirtualBox, callee nsISupports",
        f'Context: "FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())" at line 3214 '
        f"of file {source}"))


def locked(name: str) -> Fail:
    """The error of a second write lock (a running machine, or a busy session)."""
    return Fail(error_lines(
        f"The machine '{name}' is already locked for a session (or being unlocked)",
        "Details: code VBOX_E_INVALID_OBJECT_STATE (0x80bb0007), component MachineWrap, "
        "interface IMachine, callee nsISupports",
        'Context: "LockMachine(a->session, LockType_Write)" at line 640 of file '
        "VBoxManageModifyVM.cpp"))


def syntax(message: str) -> Fail:
    """A syntax error: exit code 2 (RTEXITCODE_SYNTAX)."""
    return Fail([f"VBoxManage: error: {message}"], exit_code=2)


def series(state: dict[str, Any]) -> tuple[int, int]:
    """(major, minor) of the emulated version."""
    major, minor = re.match(r"(\d+)\.(\d+)", state["version"]).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def safe_file_name(name: str) -> str:
    """VirtualBox replaces characters file systems refuse when it names folders and files."""
    return UNSAFE_FILE_CHARS.sub("_", name).strip() or "unnamed"


def now_iso() -> str:
    """VirtualBox's time format (UTC, nanosecond digits)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000", time.gmtime())


def new_mac() -> str:
    """A MAC in VirtualBox's 08:00:27 range."""
    return "080027" + os.urandom(3).hex().upper()


def new_uuid() -> str:
    """A random (version 4) UUID; the uuid module is not imported because every call of the
    double pays for its imports."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_vm(name: str, ostype: str, uuid: str, folder: Path) -> Vm:
    """A freshly created machine with createvm's defaults (no controllers, one NAT NIC off)."""
    cfg = folder / f"{safe_file_name(name)}.vbox"
    return {
        "uuid": uuid, "name": name, "ostype": ostype, "folder": str(folder), "cfg": str(cfg),
        "state": "poweroff", "state_time": now_iso(), "memory": 128, "cpus": 1, "vram": 8,
        "monitors": 1, "firmware": "BIOS", "tpm": "none", "nested": False,
        "graphics": "vboxvga", "boot": ["floppy", "dvd", "disk", "none"], "description": "",
        "usb": {"ohci": False, "ehci": False, "xhci": False}, "mouse": "ps2mouse",
        "nics": {}, "uarts": {}, "controllers": [], "snapshots": [], "current": "",
        "extradata": {}, "secureboot": False, "nvram": False, "session": "",
    }


def vm_ref(state: dict[str, Any], reference: str, source: str = "VBoxManageInfo.cpp") -> Vm:
    """The machine named or identified by `reference` (as FindMachine does)."""
    vms: dict[str, Vm] = state["vms"]
    wanted = reference.strip("{}").lower()
    if wanted in vms:
        return vms[wanted]
    for vm in vms.values():
        if vm["name"] == reference:
            return vm
    raise not_found(reference, source)


class Store:
    """Load the state under an exclusive lock; save it back on a clean exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "state.json"
        self.state: dict[str, Any] = {}
        self._lock_file: Any = None

    def __enter__(self) -> Store:
        self._lock_file = (self.folder / "state.lock").open("w")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self.state = json.loads(self.path.read_text(encoding="utf-8"))
        return self

    def save(self) -> None:
        """Write the state (atomically) and every machine's .vbox file."""
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state, indent=1), encoding="utf-8")
        temporary.replace(self.path)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


def _snapshot_elements(parent: Any, vm: Vm, parent_id: str) -> None:
    from xml.etree import ElementTree as Xml

    for snap in [s for s in vm["snapshots"] if s["parent"] == parent_id]:
        element = Xml.SubElement(parent, "Snapshot", uuid="{" + snap["uuid"] + "}",
                                 name=snap["name"], timeStamp=snap["time"])
        if snap.get("state_file"):
            element.set("stateFile", snap["state_file"])
        children = Xml.SubElement(element, "Snapshots")
        _snapshot_elements(children, vm, snap["uuid"])


def write_settings_file(vm: Vm) -> None:
    """A trimmed .vbox: what DesktopVM reads from it (TPM, extra data, snapshots)."""
    from xml.etree import ElementTree as Xml  # only mutating calls need it
    root = Xml.Element("VirtualBox", xmlns="http://www.virtualbox.org/", version="1.19-linux")
    machine = Xml.SubElement(root, "Machine", uuid="{" + vm["uuid"] + "}", name=vm["name"],
                             OSType=vm["ostype"], snapshotFolder="Snapshots")
    if vm["state"] == "saved":
        machine.set("stateFile", "Snapshots/saved.sav")
    if vm["extradata"]:
        extra = Xml.SubElement(machine, "ExtraData")
        for name, value in sorted(vm["extradata"].items()):
            Xml.SubElement(extra, "ExtraDataItem", name=name, value=value)
    _snapshot_elements(machine, vm, "")
    hardware = Xml.SubElement(machine, "Hardware")
    if vm["tpm"] != "none":
        Xml.SubElement(hardware, "TrustedPlatformModule",
                       type=str({"2.0": "v2_0", "1.2": "v1_2"}.get(vm["tpm"], vm["tpm"])))
    Path(vm["folder"]).mkdir(parents=True, exist_ok=True)
    Xml.ElementTree(root).write(vm["cfg"], encoding="utf-8", xml_declaration=True)
