#!/usr/bin/env python3
"""A stand-in for powershell.exe that speaks DesktopVM's session framing over a fake Hyper-V.

Point DESKTOPVM_POWERSHELL at this file and DESKTOPVM_FAKE_HYPERV at a JSON state file. It
checks what the real PowerShell would check (the command line, the bootstrap, that every
request names a shipped script and only that script's parameters), then answers from
`fake_hyperv`. Faults queued in the state file make it fail, hang, crash or chatter.
Stdlib only: it runs as its own process, exactly where powershell.exe would.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))  # the repository
from desktopvm.testing.doubles.hyperv import fake_hyperv, fake_hyperv_files, fake_hyperv_more

OPERATIONS = {name[3:]: value for module in (fake_hyperv, fake_hyperv_more, fake_hyperv_files)
              for name, value in vars(module).items() if name.startswith("op_")}

STATE_ENV = "DESKTOPVM_FAKE_HYPERV"
MARKER = "@@DVM@@"
VM_STATES = {"Other": 1, "Running": 2, "Off": 3, "Stopping": 4, "Saved": 6, "Paused": 9,
             "Starting": 10, "Reset": 11, "Saving": 32773, "Pausing": 32776, "Resuming": 32777,
             "FastSaved": 32779, "FastSaving": 32780}
QUIRK_ENUMS = {"State": VM_STATES, "ControllerType": {"IDE": 0, "SCSI": 1},
               "SwitchType": {"Private": 0, "Internal": 1, "External": 2}}


@contextlib.contextmanager
def locked_state() -> Iterator[dict[str, Any]]:
    """The state, loaded under an exclusive lock and written back when the block ends."""
    path = Path(os.environ[STATE_ENV])
    with path.with_suffix(".lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text(encoding="utf-8"))
        yield state
        path.write_text(json.dumps(state, indent=1), encoding="utf-8")


def take_fault(op: str) -> dict[str, Any] | None:
    """Pop the next queued fault for `op` (or for any op: '*')."""
    with locked_state() as state:
        for key in (op, "*"):
            queue = state["faults"].get(key) or []
            if queue:
                fault = queue.pop(0)
                state["faults"][key] = queue
                return dict(fault)
    return None


def parameters(script: str) -> tuple[set[str], set[str]]:
    """(all, mandatory) parameter names of a script's param() block, as PowerShell binds them."""
    match = re.search(r"\bparam\s*\(", script, re.IGNORECASE)
    if match is None:
        return set(), set()
    depth, start = 1, match.end()
    segments: list[str] = []
    current: list[str] = []
    for char in script[start:]:
        depth += (char in "([{") - (char in ")]}")
        if depth == 0:
            break
        if char == "," and depth == 1:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    names, mandatory = set(), set()
    for segment in segments:
        found = [n for n in re.findall(r"\$(\w+)", segment) if n.lower() not in
                 ("true", "false", "null")]
        if found:
            names.add(found[0])
            if re.search(r"Mandatory\s*=\s*\$true", segment, re.IGNORECASE):
                mandatory.add(found[0])
    return names, mandatory


def check_command_line(argv: list[str]) -> None:
    for option in ("-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand"):
        if option not in argv:
            sys.exit(f"fake powershell: {option} missing from {argv}")
    bootstrap = base64.b64decode(argv[argv.index("-EncodedCommand") + 1]).decode("utf-16-le")
    if "[Console]::In.ReadLine()" not in bootstrap or "$ErrorActionPreference = 'Stop'" \
            not in bootstrap:
        sys.exit("fake powershell: the encoded command is not the DesktopVM bootstrap")


def quirky(value: Any, key: str = "") -> Any:
    """Windows PowerShell 5.1 habits: enums as numbers, /Date()/, lone items not in arrays."""
    if isinstance(value, dict):
        return {k: quirky(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [quirky(v, key) for v in value]
        return None if not items else items[0] if len(items) == 1 else items
    if isinstance(value, str) and key in QUIRK_ENUMS and value in QUIRK_ENUMS[key]:
        return QUIRK_ENUMS[key][value]
    if isinstance(value, str) and key == "CreationTime" and value:
        seconds = time.mktime(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        return f"/Date({int(seconds * 1000)})/"
    return value


def logged(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the log keeps them: a file piece's data as its length (they are big)."""
    return {key: f"<{len(value)} characters>" if isinstance(value, str) and len(value) > 4096
            else value for key, value in args.items()}


def write(frame: dict[str, Any]) -> None:
    sys.stdout.write(MARKER + json.dumps(frame, ensure_ascii=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def apply_fault(fault: dict[str, Any] | None, request_id: int) -> bool:
    """Act out a fault; True when the request should still be answered normally."""
    if fault is None:
        return True
    mode = fault["mode"]
    if mode == "hang":
        time.sleep(3600)
    if mode == "crash":
        sys.stderr.write("fatal: simulated crash\n")
        sys.stderr.flush()
        if fault.get("partial"):
            sys.stdout.write(MARKER + f'{{"id": {request_id}, "ok": tr')
            sys.stdout.flush()
        os._exit(3)
    if mode == "slow":
        time.sleep(float(fault.get("seconds", 1)))
    if mode == "noise":
        sys.stdout.write("WARNING: something chatty ‘quoted’\nPreparing modules for first use.\n")
    if mode == "error":
        write({"id": request_id, "ok": False, "error": fault["error"]})
        return False
    return True


def serve(scripts: dict[str, str]) -> None:
    signatures = {name: parameters(text) for name, text in scripts.items()}
    for raw in iter(sys.stdin.buffer.readline, b""):
        if not raw.strip():
            continue
        request = json.loads(raw)
        request_id, op, args = request["id"], request["op"], request["args"]
        if not apply_fault(take_fault(op), request_id):
            continue
        try:
            if op not in scripts:
                raise fake_hyperv.HyperVError("DesktopVM.UnknownOperation",
                                              f"No operation named {op}", "InvalidArgument")
            names, mandatory = signatures[op]
            unknown, missing = set(args) - names, mandatory - set(args)
            if unknown or missing:
                raise fake_hyperv.HyperVError(
                    "NamedParameterNotFound" if unknown else "MissingMandatoryParameter",
                    f"{op}.ps1: unknown parameters {sorted(unknown)}, missing {sorted(missing)}",
                    "InvalidArgument")
            with locked_state() as state:
                state["log"].append({"op": op, "args": logged(args)})
                result = OPERATIONS[op](state, args)
                if state.get("ps51_quirks"):
                    result = quirky(result)
            write({"id": request_id, "ok": True, "result": result})
        except fake_hyperv.HyperVError as error:
            write({"id": request_id, "ok": False, "error": error.payload})


def main(argv: list[str]) -> int:
    check_command_line(argv)
    load = json.loads(sys.stdin.buffer.readline() or b"null")
    if not isinstance(load, dict):
        return 0
    scripts = load["scripts"]
    everything = {**scripts, "dispatcher": load["dispatcher"], "common": load["common"]}
    for name, text in everything.items():
        if "param(" not in text or "$ErrorActionPreference = 'Stop'" not in text:
            sys.exit(f"fake powershell: {name}.ps1 lacks param() or ErrorActionPreference")
    if not apply_fault(take_fault("start"), 0):
        return 0
    with locked_state() as state:
        probe = state["probe"]
    write({"id": 0, "ok": True, "result": {
        "ps_version": "5.1.22621.4111", "edition": "Desktop", "computer": "FAKE-HYPERV",
        "hyperv": probe["hyperv"],
        "hyperv_error": "" if probe["hyperv"] else "The specified module 'Hyper-V' was not "
        "loaded because no valid module file was found in any module directory."}})
    serve(scripts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
