"""Properties: whatever a VM is called, the PowerShell run is byte-identical; values are JSON."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.hyperv import plans
from backends.hyperv.framing import encode_request
from backends.hyperv.session import PowerShellSession
from desktopvm.model import (
    ControllerKind,
    Disk,
    DiskFormat,
    Firmware,
    FirmwareSpec,
    MachineSpec,
    NetworkAdapter,
    NetworkAttachment,
    OpticalDrive,
    StorageController,
)

NASTY = ["'", "‘", "’", "‚", "‛", "“", "”", "„", "`", "$(", ")", "$(Remove-Item C:\\ -Recurse)",
         ";", "&", "|", "\n", "\r\n", "\x00", "\\", '"', "@'", "'@", "#", "<#", "{", "}",
         "${env:TEMP}", "-Force", " "]
nasty_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=8)), max_size=8).map(
    "".join)



def spec_named(name: str, notes: str, path: str) -> MachineSpec:
    return MachineSpec(
        name=name or "x", notes=notes, firmware=FirmwareSpec(kind=Firmware.UEFI),
        storage=(StorageController(kind=ControllerKind.SCSI, disks=(
            Disk(path=path, format=DiskFormat.VHDX, size_bytes=1 << 30),),
            optical=(OpticalDrive(iso=path + ".iso", port=1),)),),
        network=(NetworkAdapter(attachment=NetworkAttachment.SWITCH, network=name or "x"),))


@settings(max_examples=300, deadline=None)
@given(name=nasty_text, notes=nasty_text, path=nasty_text)
def test_script_text_never_depends_on_values(name: str, notes: str, path: str):
    call = plans.create(spec_named(name, notes, path), "Default Switch")
    line = encode_request(7, call.op, call.args)
    # The script text takes no values at all (test_scripts checks no script builds code from
    # strings); the values travel as one ASCII JSON line and come back exactly.
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.isascii() and b"\x00" not in line
    decoded = json.loads(line)
    assert decoded["op"] == "create_vm"
    assert decoded["args"]["Name"] == (name or "x")
    assert decoded["args"]["Notes"] == notes
    assert decoded["args"]["Disks"][0]["Path"] == path
    assert decoded["args"]["DvdDrives"][0]["Path"] == path + ".iso"


CREATED: dict[int, str] = {}  # session -> the VM the examples rename


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=nasty_text.filter(lambda s: s.strip() == s and s != ""))
def test_names_survive_the_process_boundary_exactly(session: PowerShellSession, name: str):
    """Through the real session and the double's JSON parsing: rename and read back."""
    if id(session) not in CREATED:
        base = MachineSpec(name="base", firmware=FirmwareSpec(kind=Firmware.UEFI))
        CREATED[id(session)] = session.request("create_vm", plans.create(base, "").args)["Id"]
    vm_id = CREATED[id(session)]
    session.request("rename_vm", {"Id": vm_id, "Name": name})
    session.request("set_notes", {"Id": vm_id, "Notes": name + "\n" + name})
    details = session.request("get_vm", {"Id": vm_id})
    assert details["Name"] == name
    assert details["Notes"] == name + "\n" + name
