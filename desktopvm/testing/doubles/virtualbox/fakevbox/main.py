"""The double's entry: record argv, apply injected faults, run the command, print like VBoxManage.

Faults (faults.json in the state folder) are rules matched against the argv prefix (`*`
matches any one argument). A rule may sleep (a hang), print recorded stdout/stderr and exit
with a chosen code instead of running the command, or run the command and then add its
output and exit code (`"run": true`, e.g. startvm's success text with exit code 1). `times`
counts how often it fires (-1: always), so "locked twice, then fine" is one rule.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktopvm.testing.doubles.virtualbox.fakevbox import machines, misc, runtime
from desktopvm.testing.doubles.virtualbox.fakevbox.state import STATE_ENV, Fail, Store, syntax

Handler = Callable[[dict[str, Any], list[str], dict[str, Any]], None]
COMMANDS: dict[str, Handler] = {
    "createvm": machines.createvm, "modifyvm": machines.modifyvm,
    "storagectl": machines.storagectl, "storageattach": machines.storageattach,
    "unregistervm": machines.unregistervm, "registervm": machines.registervm,
    "setextradata": machines.setextradata, "modifynvram": machines.modifynvram,
    "showvminfo": runtime.showvminfo, "startvm": runtime.startvm,
    "controlvm": runtime.controlvm, "discardstate": runtime.discardstate,
    "snapshot": runtime.snapshot, "clonevm": runtime.clonevm,
    "guestproperty": runtime.guestproperty, "list": misc.lists,
    "createmedium": misc.createmedium, "createhd": misc.createmedium,
    "closemedium": misc.closemedium, "showmediuminfo": misc.showmediuminfo,
    "modifymedium": misc.modifymedium, "clonemedium": misc.clonemedium,
    "export": misc.export, "import": misc.import_,
}


def _matches(pattern: list[str], args: list[str]) -> bool:
    return len(args) >= len(pattern) and all(p in ("*", a) for p, a in zip(pattern, args,
                                                                         strict=False))


def take_fault(store: Store, args: list[str]) -> dict[str, Any] | None:
    """The first rule matching `args` (its remaining count is used up by one)."""
    path = store.folder / "faults.json"
    if not path.exists():
        return None
    rules = json.loads(path.read_text(encoding="utf-8"))
    for rule in rules:
        if rule.get("times", -1) != 0 and _matches(rule["when"], args):
            if rule.get("times", -1) > 0:
                rule["times"] -= 1
                path.write_text(json.dumps(rules), encoding="utf-8")
            return dict(rule)
    return None


def progress_printer(delay: float) -> Callable[[], None]:
    """Prints `0%...10%...100%` to stderr in pieces, flushed, as VBoxManage's showProgress."""
    def show() -> None:
        for percent in range(0, 101, 10):
            sys.stderr.write(f"{percent}%" + ("..." if percent < 100 else "\n"))
            sys.stderr.flush()
            if delay:
                time.sleep(delay)
    return show


def _emit(rule: dict[str, Any]) -> None:
    for key, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        text = rule.get(key, "")
        if rule.get(f"{key}_file"):
            text += Path(rule[f"{key}_file"]).read_text(encoding="utf-8")
        stream.write(text)
        stream.flush()


def run(args: list[str], folder: Path) -> int:
    """One VBoxManage invocation; returns the exit code."""
    with (folder / "calls.jsonl").open("a", encoding="utf-8") as calls:
        calls.write(json.dumps({"argv": args, "LANG": os.environ.get("LANG", ""),
                                "LC_ALL": os.environ.get("LC_ALL", "")}) + "\n")
    with Store(folder) as store:
        rule = take_fault(store, args)
        version = store.state["version"]
        delay = float(store.state.get("progress_delay", 0.0))
    rule = rule or {}
    time.sleep(float(rule.get("sleep", 0)))
    if rule and not rule.get("run"):
        _emit(rule)
        return int(rule.get("exit", 0))
    if args[:1] == ["--version"]:
        sys.stdout.write(version + "\n")
        return 0
    context: dict[str, Any] = {"out": "", "exit": 0, "progress":
                               progress_printer(float(rule.get("progress_delay", delay)))}
    with Store(folder) as store:
        try:
            if not args or args[0] not in COMMANDS:
                raise syntax(f"Invalid command '{args[0] if args else ''}'")
            COMMANDS[args[0]](store.state, args[1:], context)
            store.save()
        except Fail as failure:
            sys.stdout.write(failure.stdout)
            sys.stderr.write("\n".join(failure.lines) + "\n")
            return failure.exit_code
    sys.stdout.write(context["out"])
    if rule:
        _emit(rule)
        return int(rule.get("exit", context["exit"]))
    return int(context["exit"])


def main() -> None:
    """Entry point: the state folder comes from $FAKE_VBOX_STATE (the wrapper script sets it)."""
    try:
        code = run(sys.argv[1:], Path(os.environ[STATE_ENV]))
    except KeyboardInterrupt:  # VBoxManage cancels its progress object on Ctrl+C
        sys.stderr.write("\nVBoxManage: error: The operation was canceled by the user\n")
        code = 1
    sys.stdout.flush()
    sys.exit(code)
