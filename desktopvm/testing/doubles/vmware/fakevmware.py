"""A process-boundary stand-in for vmrun, vmware-vdiskmanager, vmware-vmx and vmware (stdlib).

Run as `vmrun` / `vmware-vdiskmanager` / `vmware-vmx` / `vmware` through the launchers
standin.py writes; `vmrun start` also starts the machine's VNC server (fakedisplay.py).
It keeps real state in real files — the .vmx it is given, `<vm>.vmsd`, `<vm>.vmss`,
`<vm>.vmx.lck/`, `*.vmsn`, VMDK headers — plus `state.json` (which machines run) and
`calls.jsonl` (every call). It shares no code with backends/vmware: it reads .vmx files with
its own few lines, so a parser bug there is not hidden here.

Every rule it enforces names its source: a fixture line (../shared/fixtures), or a section of
research/vmware.md with the citation given there. Where no real capture of a message exists,
the line says "wording not captured" and the backend must not depend on more than the
`Error:` prefix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL
from typing import Any, NoReturn

try:
    import fakedisk  # type: ignore[import-not-found]  # run as a tool
    import fakedisplay  # type: ignore[import-not-found]
    import fakesnapshots  # type: ignore[import-not-found]
except ImportError:  # imported by the tests as a module of their package
    from desktopvm.testing.doubles.vmware import fakedisk, fakedisplay, fakesnapshots

STATE = Path(os.environ.get("FAKE_VMWARE_STATE", "."))
State = dict[str, Any]
_ENTRY = re.compile(r'^\s*([^=#\s][^=]*?)\s*=\s*"(.*)"\s*$')


# -- files ------------------------------------------------------------------------------------

def load() -> State:
    state: State = json.loads((STATE / "state.json").read_text("utf-8"))
    return state


def store(state: State) -> None:
    tmp = STATE / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1), "utf-8")
    tmp.replace(STATE / "state.json")


def record(tool: str, argv: list[str]) -> None:
    with (STATE / "calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"tool": tool, "argv": argv}) + "\n")


def read_keys(path: Path) -> dict[str, str]:
    """key (lower case) -> raw value of a VMware key/value file."""
    found = {}
    for line in path.read_text("utf-8", "surrogateescape").splitlines():
        match = _ENTRY.match(line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def write_keys(path: Path, keys: dict[str, str]) -> None:
    path.write_text('.encoding = "UTF-8"\n' + "".join(f'{k} = "{v}"\n' for k, v in keys.items()
                                                       if k != ".encoding"), "utf-8")


def set_keys(path: Path, changes: dict[str, str]) -> None:
    """Change the values of existing keys in place (each line keeps its place and case)."""
    if not changes:
        return
    wanted = {k.lower(): v for k, v in changes.items()}
    lines = path.read_text("utf-8", "surrogateescape").splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = _ENTRY.match(line.rstrip("\r\n"))
        if match and match.group(1).lower() in wanted:
            lines[index] = f'{match.group(1)} = "{wanted[match.group(1).lower()]}"\n'
    path.write_text("".join(lines), "utf-8", "surrogateescape")


def fail(message: str, code: int = 255) -> NoReturn:
    """vmrun prints errors on stdout as `Error: …` (GNS3 "vmrun print errors on stdout";
    research §A.4); POSIX exit status 255 (§A.4)."""
    print(f"Error: {message}")
    sys.exit(code)


# -- vmrun -------------------------------------------------------------------------------------

def vmrun(argv: list[str]) -> None:
    state = load()
    host_type = ""
    while argv and argv[0] in ("-T", "-vp", "-gu", "-gp"):
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "-T":
            host_type = value
    # The 17.0 help: "-T <hostType> (ws|fusion||player)" (fixture vmware_ws17_linux_vmrun_help).
    if host_type not in ("ws", "fusion", "player"):
        fail(f"Unknown host type: {host_type}")  # wording not captured
    # GNS3 retries with -T player when -T ws answers VIX_SERVICEPROVIDER_VMWARE_WORKSTATION
    # (research §A.4); the rest of this line's wording is not captured.
    if state.get("product") == "player" and host_type == "ws":
        fail("The specified service provider was not found: "
             "VIX_SERVICEPROVIDER_VMWARE_WORKSTATION")
    if not argv:
        print("Usage: vmrun [AUTHENTICATION-FLAGS] COMMAND [PARAMETERS]")
        sys.exit(255)
    command, args = argv[0], argv[1:]
    if command == "list":
        # "Total running VMs: N" then one absolute path per line (§A.4, Vagrant/Packer). On
        # Windows only the calling user's machines are listed (§A.4): `other_user` ones hide.
        shown = [p for p in state["running"] if p not in state.get("other_user", [])]
        print(f"Total running VMs: {len(shown)}")
        for path in shown:
            print(path)
        return
    if not args:
        fail("Invalid argument")  # wording not captured
    vmx = Path(args[0])
    if not vmx.is_file():
        # fixture vmware_vmrun_error_outputs_collected.txt L5
        fail(f"Cannot open VM: {vmx}, The virtual machine cannot be found")
    keys = read_keys(vmx)
    if "config.version" not in keys or "virtualhw.version" not in keys:
        # §A.4: "Cannot read the virtual machine configuration file" when config.version or
        # virtualHW.version is missing
        fail(f"Cannot open VM: {vmx}, Cannot read the virtual machine configuration file")
    handler = COMMANDS.get(command)
    if handler is None:
        fail(f"Unrecognized command: {command}")  # wording not captured
    refusal = refused(state, host_type, command)
    if refusal:
        fail(refusal)
    handler(state, vmx, args[1:])
    store(state)


def refused(state: State, host_type: str, command: str) -> str:
    """The `Error:` text of a command refused before it runs, or ""."""
    if host_type == "player" and command in ("snapshot", "deleteSnapshot", "revertToSnapshot",
                                             "listSnapshots", "clone"):
        # VIX: snapshots and clones are "not supported when using the
        # VIX_SERVICEPROVIDER_VMWARE_PLAYER host type" (backends/vmware/capabilities.py);
        # wording not captured
        return "The operation is not supported for the specified parameters"
    fault: str = state.get("fail", {}).get(command, "")  # a test's fault; nothing changes
    return fault


def running(state: State, vmx: Path) -> bool:
    return str(vmx) in state["running"]


def require_running(state: State, vmx: Path) -> None:
    # fixture L1/L2. A wrapper saw this message with exit status 0 (§A.4): so does the
    # stand-in, and only the `Error:` line tells the backend it failed.
    if not running(state, vmx):
        fail(f"The virtual machine is not powered on: {vmx}", code=0)


def lock(vmx: Path, on: bool) -> None:
    """Workstation holds `<vm>.vmx.lck/` (with a `.lck` file in it) while the VM runs
    (Vagrant reads `*.lck/*.lck`, Packer waits for them to go: §A.4)."""
    folder = vmx.parent / (vmx.name + ".lck")
    if on:
        folder.mkdir(exist_ok=True)
        (folder / "M12345.lck").write_text("pid\n", "utf-8")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def power_off(state: State, vmx: Path) -> None:
    state["running"] = [p for p in state["running"] if p != str(vmx)]
    state["paused"] = [p for p in state["paused"] if p != str(vmx)]
    lock(vmx, False)
    fakedisplay.stop(state, vmx)


def cmd_start(state: State, vmx: Path, args: list[str]) -> None:
    if args and args[0] not in ("gui", "nogui"):
        fail("Invalid argument")  # wording not captured; the help lists [gui|nogui]
    if running(state, vmx):
        fail("The virtual machine should not be powered on. It is already running.")  # L3
    for path in fake_disks(vmx):  # a disk and every parent its delta chain names
        problem = fakesnapshots.chain_problem(path)
        if problem:
            # the vSphere Client's words in Broadcom KB 1007969; Workstation's not captured
            fail(f"Cannot open the disk '{path}' or one of the snapshot disks it depends on. "
                 f"Reason: {problem}")
    for saved in vmx.parent.glob(vmx.stem + "*.vmss"):
        saved.unlink()  # a suspended machine resumes (§A.4: suspended = a .vmss exists)
    state["running"].append(str(vmx))
    lock(vmx, True)
    # VMware's VNC server starts with the machine when the .vmx turns it on (§A.7)
    fakedisplay.start(state, vmx, read_keys(vmx), STATE)


def cmd_stop(state: State, vmx: Path, args: list[str]) -> None:
    require_running(state, vmx)
    if (args[:1] or ["soft"])[0] == "soft" and not state.get("tools", True):
        # fixture L4; a soft stop needs VMware Tools (§A.4, powerType soft)
        fail(f"The VMware Tools are not running in the virtual machine: {vmx}")
    power_off(state, vmx)


def cmd_reset(state: State, vmx: Path, args: list[str]) -> None:
    require_running(state, vmx)


def cmd_suspend(state: State, vmx: Path, args: list[str]) -> None:
    require_running(state, vmx)
    power_off(state, vmx)
    (vmx.parent / (vmx.stem + ".vmss")).write_bytes(b"saved memory")  # §A.4 Vagrant read_state


def cmd_pause(state: State, vmx: Path, args: list[str]) -> None:
    require_running(state, vmx)
    if str(vmx) not in state["paused"]:
        state["paused"].append(str(vmx))


def cmd_unpause(state: State, vmx: Path, args: list[str]) -> None:
    require_running(state, vmx)
    state["paused"] = [p for p in state["paused"] if p != str(vmx)]


# -- snapshots: the .vmsd as research §A.7 and fixture vmware_xo_esxi_4_snapshots.vmsd show it --

def vmsd_of(vmx: Path) -> Path:
    return vmx.with_suffix(".vmsd")


def snapshot_list(vmx: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(top-level keys, entries with their properties) of the .vmsd."""
    path = vmsd_of(vmx)
    keys = read_keys(path) if path.exists() else {}
    entries: dict[int, dict[str, str]] = {}
    top = {}
    for key, value in keys.items():
        match = re.match(r"^snapshot(\d+)\.(.+)$", key)
        if match:
            entries.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            top[key] = value
    return top, [entries[k] for k in sorted(entries)]


def save_snapshots(vmx: Path, top: dict[str, str], entries: list[dict[str, str]]) -> None:
    keys = {k: v for k, v in top.items() if k != "snapshot.numsnapshots"}
    for index, entry in enumerate(entries):
        keys.update({f"snapshot{index}.{k}": v for k, v in entry.items()})
    keys["snapshot.numSnapshots"] = str(len(entries))
    write_keys(vmsd_of(vmx), keys)


def by_name(entries: list[dict[str, str]], name: str) -> dict[str, str]:
    found = [e for e in entries if e.get("displayname") == name]
    if not found:
        fail("A snapshot with the given name does not exist")  # wording not captured
    if len(found) > 1:
        # §A.4: snapshots are addressed by name, "ambiguous if duplicated"
        fail("The name does not uniquely identify one snapshot")  # wording not captured
    return found[0]


def cmd_snapshot(state: State, vmx: Path, args: list[str]) -> None:
    if not args:
        fail("Invalid argument")  # wording not captured
    top, entries = snapshot_list(vmx)
    uid = str(int(top.get("snapshot.lastuid", "0")) + 1)
    micros = int(time.time() * 1_000_000)
    high, low = micros >> 32, micros & 0xFFFFFFFF
    if low >= 2**31:
        low -= 2**32  # the low word may be written negative (§A.7)
    stem = f"{vmx.stem}-Snapshot{uid}"
    entry = {"uid": uid, "filename": stem + ".vmsn", "displayName": args[0],
             "createTimeHigh": str(high), "createTimeLow": str(low)}
    if top.get("snapshot.current"):
        entry["parent"] = top["snapshot.current"]
    # The .vmsn holds "the VM configuration data" (Volatility's "VMware Snapshot File" wiki:
    # .vmss/.vmsn carry the memory runs, the VM configuration, CPU registers, thumbnails); the
    # stand-in's holds the .vmx as it is now, which revertToSnapshot brings back.
    (vmx.parent / (stem + ".vmsn")).write_bytes(SNAPSHOT_CONFIG + vmx.read_bytes())
    if running(state, vmx):  # a running machine's snapshot holds its memory (§A.4)
        (vmx.parent / (stem + ".vmem")).write_bytes(b"memory")
    # every disk frozen, the machine moved onto new children (fakesnapshots.py) — unless a
    # test's fault leaves the .vmx on the disks it had (what a backup must notice)
    moved = fakesnapshots.take(read_keys(vmx), vmx, entry)
    if not state.get("snapshot_keeps_disks"):
        set_keys(vmx, moved)
    top = {k: v for k, v in top.items() if k not in ("snapshot.lastuid", "snapshot.current")}
    top.update({"snapshot.lastUID": uid, "snapshot.current": uid})
    save_snapshots(vmx, top, [*entries, entry])


SNAPSHOT_CONFIG = b"snapshot state; the configuration then:\n"


def _revert_config(vmx: Path, entry: dict[str, str]) -> None:
    """The .vmx as the snapshot saw it: a revert restores the machine's configuration with its
    disks and memory ("the configuration of the virtual machine at the time of the snapshot",
    a VMware snapshot's content as Pulumi's vSphere VirtualMachineSnapshot page puts it;
    research §A.7: the .vmsn). The display name stays as it is now [unverified: whether
    Workstation keeps a rename made after the snapshot]. A .vmsn without a configuration (an
    older stand-in's) leaves the .vmx alone."""
    saved = (vmx.parent / entry["filename"]).read_bytes() if entry.get("filename") else b""
    if not saved.startswith(SNAPSHOT_CONFIG):
        return
    name = re.compile(rb"^displayname\s*=.*$", re.IGNORECASE | re.MULTILINE)
    now = name.search(vmx.read_bytes())
    then = saved[len(SNAPSHOT_CONFIG):]
    if now is not None:
        then = name.sub(lambda _m: now.group(0), then, count=1)
    vmx.write_bytes(then)


def cmd_revert(state: State, vmx: Path, args: list[str]) -> None:
    top, entries = snapshot_list(vmx)
    entry = by_name(entries, args[0] if args else "")
    before = fakesnapshots.disk_nodes(read_keys(vmx), vmx)
    _revert_config(vmx, entry)
    set_keys(vmx, fakesnapshots.revert(read_keys(vmx), vmx, entry, entries, before))
    top = {k: v for k, v in top.items() if k != "snapshot.current"}
    top["snapshot.current"] = entry["uid"]
    memory = vmx.parent / Path(entry["filename"]).with_suffix(".vmem").name
    if running(state, vmx) and not memory.exists():
        power_off(state, vmx)  # a snapshot without memory leaves the machine off
    save_snapshots(vmx, top, entries)


def cmd_delete_snapshot(state: State, vmx: Path, args: list[str]) -> None:
    top, entries = snapshot_list(vmx)
    entry = by_name(entries, args[0] if args else "")
    with_children = args[1:2] == ["andDeleteChildren"]
    doomed = {entry["uid"]}
    if with_children:
        grew = True
        while grew:
            more = {e["uid"] for e in entries if e.get("parent") in doomed}
            grew = not more <= doomed
            doomed |= more
    for doomed_entry in sorted((e for e in entries if e["uid"] in doomed),
                               key=lambda e: -int(e["uid"])):  # the newest first
        set_keys(vmx, fakesnapshots.delete(read_keys(vmx), vmx, doomed_entry, entries))
    parent = entry.get("parent", "")
    kept = []
    for other in entries:
        if other["uid"] in doomed:
            for suffix in (".vmsn", ".vmem"):
                (vmx.parent / Path(other["filename"]).with_suffix(suffix).name).unlink(
                    missing_ok=True)
            continue
        moved = dict(other)
        if other.get("parent") == entry["uid"]:  # children move up to the parent
            moved.pop("parent")
            if parent:
                moved["parent"] = parent
        kept.append(moved)
    if top.get("snapshot.current") in doomed:
        top = {k: v for k, v in top.items() if k != "snapshot.current"}
        if parent:
            top["snapshot.current"] = parent
    save_snapshots(vmx, top, kept)


def cmd_list_snapshots(state: State, vmx: Path, args: list[str]) -> None:
    """"Total snapshots: N" then names; showTree indents children with tabs (§A.4)."""
    _top, entries = snapshot_list(vmx)
    print(f"Total snapshots: {len(entries)}")
    tree = args[:1] == ["showTree"]

    def show(parent: str, depth: int) -> None:
        for entry in entries:
            if entry.get("parent", "") == parent:
                print("\t" * depth + entry["displayname"])
                show(entry["uid"], depth + 1)

    if tree:
        show("", 0)
    else:
        for entry in entries:
            print(entry["displayname"])


# -- clone ---------------------------------------------------------------------------------------

def fake_disks(vmx: Path) -> list[Path]:
    keys = read_keys(vmx)
    found = []
    for key, value in keys.items():
        if re.match(r"^(scsi|sata|nvme|ide)\d+:\d+\.filename$", key) and value.endswith(".vmdk"):
            path = Path(value)
            found.append(path if path.is_absolute() else vmx.parent / path)
    return found


def cmd_clone(state: State, vmx: Path, args: list[str]) -> None:
    """`clone <vmx> <dst vmx> full|linked [-snapshot=Name] [-cloneName=Name]` (17.0 help)."""
    if len(args) < 2 or args[1] not in ("full", "linked"):
        fail("Invalid argument")  # wording not captured
    target, kind = Path(args[0]), args[1]
    options = dict(a[1:].split("=", 1) for a in args[2:] if a.startswith("-") and "=" in a)
    if running(state, vmx):
        fail("The virtual machine should not be powered on. It is already running.")  # L3
    if target.exists():
        fail(f"The file already exists: {target}")  # wording not captured
    _top, entries = snapshot_list(vmx)
    frozen: dict[str, str] = {}  # node -> the disk the chosen snapshot froze there
    if "snapshot" in options:
        base = by_name(entries, options["snapshot"])
        frozen = {base[f"disk{i}.node"]: base[f"disk{i}.filename"]
                  for i in range(int(base.get("numdisks", "0") or 0))}
    elif kind == "linked":
        fail("A linked clone needs a snapshot of the source")  # wording not captured
    target.parent.mkdir(parents=True, exist_ok=True)
    keys = read_keys(vmx)
    for key in list(keys):
        if key.startswith(("uuid.", "ethernet")) and key.endswith(("uuid.bios",
                                                                  "uuid.location",
                                                                  "generatedaddress")):
            del keys[key]
    keys["displayname"] = options.get("cloneName", target.stem)
    for key, value in list(keys.items()):
        if re.match(r"^(scsi|sata|nvme|ide)\d+:\d+\.filename$", key) and value.endswith(".vmdk"):
            chosen = frozen.get(key[:-len(".filename")], value)  # the snapshot's disk
            source = Path(chosen) if Path(chosen).is_absolute() else vmx.parent / chosen
            copy = target.parent / f"{target.stem}-cl{len(list(target.parent.glob('*.vmdk')))}.vmdk"
            if kind == "full":  # the disk's state as one file, its chain flattened
                fakedisk.flatten(source, copy)
            else:  # a delta that names its parent (what a linked clone's disk is)
                fakedisk.create(copy, fakedisk.capacity(source), parent=source,
                                parent_hint=str(source))
            keys[key] = copy.name
    write_keys(target, keys)
    if entries and "snapshot" in options:  # §A.4: the source .vmsd gets snapshotN.clone0
        top, entries = snapshot_list(vmx)
        base = by_name(entries, options["snapshot"])
        count = int(base.get("numclones", "0"))
        base[f"clone{count}"] = str(target)
        base["numClones"] = str(count + 1)
        base.pop("numclones", None)
        save_snapshots(vmx, top, entries)


Command = Callable[[State, Path, list[str]], None]
COMMANDS: dict[str, Command] = {
    "start": cmd_start, "stop": cmd_stop, "reset": cmd_reset, "suspend": cmd_suspend,
    "pause": cmd_pause, "unpause": cmd_unpause, "snapshot": cmd_snapshot,
    "revertToSnapshot": cmd_revert, "deleteSnapshot": cmd_delete_snapshot,
    "listSnapshots": cmd_list_snapshots, "clone": cmd_clone}


# -- vmware-vdiskmanager (help: fixture vmware_vdiskmanager_build5192483_help.txt) --------------

def size_sectors(text: str, adapter: str) -> int:
    """"The capacity can be specified in sectors, KB, MB or GB"; ide/scsi [1MB, 8192.0GB],
    buslogic [1MB, 2040.0GB] (the help)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(KB|MB|GB)?", text, re.IGNORECASE)
    if not match:
        vdisk_fail(f"Invalid capacity: {text}")
    unit = {"kb": 2, "mb": 2048, "gb": 2048 * 1024, None: 1}[(match.group(2) or "").lower()
                                                              or None]
    sectors = int(float(match.group(1)) * unit)
    limit = (2040 if adapter == "buslogic" else 8192) * 2048 * 1024
    if not 2048 <= sectors <= limit:
        vdisk_fail("The specified capacity is out of range")  # wording not captured
    return sectors


def vdisk_fail(message: str) -> NoReturn:
    print(message)  # wording not captured; the backend reads only the exit status
    sys.exit(1)


def progress_lines(verb: str) -> None:
    delay = load().get("disk_delay", 0.0)
    for percent in (0, 25, 50, 75, 100):
        print(f"  {verb}: {percent}% done.", flush=True)  # [unverified wording]
        if delay and percent < 100:
            time.sleep(delay)


def vdiskmanager(argv: list[str]) -> None:  # noqa: PLR0912 - one branch per operation
    # Since WS 10 this warning can come on stderr with exit 0 (§A.6): harmless.
    print("VixDiskLib: Invalid configuration file parameter.  Failed to read configuration "
          "file.", file=sys.stderr)
    options: dict[str, str] = {}
    rest = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-s", "-a", "-t", "-x", "-r", "-n"):
            options[arg] = args.pop(0)
        elif arg in ("-c", "-d", "-k", "-R", "-e", "-D", "-q"):
            options[arg] = ""
        else:
            rest.append(arg)
    operations = [o for o in ("-c", "-d", "-k", "-x", "-r", "-n", "-R", "-e", "-D")
                  if o in options]
    if len(operations) != 1 or len(rest) != 1:
        vdisk_fail("Operations, only one may be specified at a time")  # the help's words
    path = Path(rest[0])
    op = operations[0]
    if op == "-c":
        adapter = options.get("-a", "")
        if adapter not in ("ide", "buslogic", "lsilogic"):  # the help's list
            vdisk_fail(f"Invalid adapter type: {adapter}")
        kind = options.get("-t", "")
        if kind not in {"0", "1", "2", "3", "4", "5", "6"}:
            vdisk_fail(f"Invalid disk type: {kind}")
        if path.exists():  # it refuses to overwrite an existing file (§A.6)
            vdisk_fail(f"Failed to create disk '{path}': The file already exists")
        print(f"Creating disk '{path}'")  # §A.6 (docker-machine logs)
        progress_lines("Create")
        fakedisk.create(path, size_sectors(options.get("-s", ""), adapter), stream=kind == "5")
        print("Virtual disk creation successful.")  # §A.6
    elif op == "-x":
        if not path.is_file():
            vdisk_fail(f"Failed to open the disk '{path}'")
        sectors = size_sectors(options["-x"], "lsilogic")
        if sectors <= fakedisk.capacity(path):  # -x only enlarges (§A.6)
            vdisk_fail("The new capacity must be larger than the current one")
        progress_lines("Grow")
        grown = path.with_name(path.name + ".grow")  # the data stays; the size grows
        fakedisk.flatten(path, grown, sectors)
        fakedisk.write_descriptor(grown, CID=fakedisk.read_descriptor(path)["CID"])
        grown.replace(path)
        print("Disk expansion completed successfully.")  # [unverified wording]
    elif op == "-r":
        source = Path(options["-r"])
        if not source.is_file():
            vdisk_fail(f"Failed to open the disk '{source}'")
        if path.exists():
            vdisk_fail(f"Failed to convert disk: '{path}' already exists")
        print(f"Creating disk '{path}'")
        progress_lines("Convert")
        if options.get("-t") == "5":  # streamOptimized: the stand-in writes no compressed grains
            fakedisk.create(path, fakedisk.capacity(source), stream=True)
        else:
            fakedisk.flatten(source, path)
        print("Virtual disk conversion successful.")  # [unverified wording]
    elif op in ("-d", "-k"):
        progress_lines("Defragment" if op == "-d" else "Shrink")
        # An Ansible module checks for these two lines (§A.6, weak)
        print("Defragmentation completed successfully." if op == "-d"
              else "Shrink completed successfully.")


def vmware_vmx(argv: list[str]) -> None:
    """`vmware-vmx -v` prints the version on stderr (Packer's driver_workstation_unix.go, parsed
    with `VMware Workstation (\\d+\\.\\d+\\.\\d+)`); the build number here is made up."""
    print(f"VMware Workstation {load().get('version', '17.6.2')} build-24409262 Release",
          file=sys.stderr)


def vmware_window(argv: list[str]) -> None:
    """`vmware [-x] <vmx>`: Workstation's window with the machine (`-x`: power it on). Not in
    research/vmware.md or any capture: the options are `vmware --help`'s as remembered, so
    only the shape (one existing .vmx) is checked; calls.jsonl records the call."""
    paths = [a for a in argv if not a.startswith("-")]
    if len(paths) != 1 or not Path(paths[0]).is_file():
        print(f"vmware: cannot open {paths}", file=sys.stderr)  # wording not captured
        sys.exit(1)


def main() -> None:
    tool = Path(sys.argv[0]).name
    argv = sys.argv[1:]
    command = argv[2] if tool == "vmrun" and len(argv) > 2 else ""
    detached = os.environ.get("FAKE_VMWARE_DETACHED") == "1"
    if not detached:
        record(tool, argv)
    later = load().get("detach", {}).get(command, 0)
    if later and not detached:
        # A test's knob: another process does the work `later` s on (as Workstation's
        # vmware-vmx would; vmrun only waits), so killing vmrun does not stop it [assumed of
        # Workstation, not captured: the race a cancelled `vmrun snapshot` runs into].
        worker = subprocess.Popen([sys.argv[0], *argv], start_new_session=True,
                                  stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL,
                                  env={**os.environ, "FAKE_VMWARE_DETACHED": "1"})
        sys.exit(worker.wait())
    delay = later or load().get("delay", {}).get(command, 0)
    if delay:
        time.sleep(delay)
    tools = {"vmware-vdiskmanager": vdiskmanager, "vmware-vmx": vmware_vmx,
             "vmware": vmware_window}
    try:
        tools.get(tool, vmrun)(argv)
    finally:
        if detached:  # for the test to wait on: the detached work has ended
            (STATE / "detached-done").write_text(command, "utf-8")
