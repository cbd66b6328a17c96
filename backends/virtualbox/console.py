"""Consoles: the native viewer's argv, the serial endpoint, screenshots and the keyboard."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from backends.virtualbox.keys import chunks, combo_to_scancodes, typeable
from backends.virtualbox.reader import MachineRecord
from backends.virtualbox.vboxmanage import VBoxManage
from desktopvm.model import SerialMode
from desktopvm.protocol import (
    ConsoleEndpoints,
    SerialEndpoint,
    UnsupportedOperation,
    states,
)
from desktopvm.protocol.keys import UnknownKey
from desktopvm.protocol.states import Operation

VIEWER_NAMES = ("VirtualBoxVM.exe",) if sys.platform == "win32" else ("VirtualBoxVM",)
MACOS_VIEWER = "Resources/VirtualBoxVM.app/Contents/MacOS/VirtualBoxVM"


def viewer_executable(vboxmanage: str) -> str:
    """VirtualBoxVM: beside VBoxManage (Windows, Linux's /usr/lib/virtualbox), inside the
    macOS bundle, or on PATH."""
    if vboxmanage:
        folder = Path(vboxmanage).resolve().parent
        candidates = [folder / name for name in VIEWER_NAMES]
        candidates.append(folder.parent / MACOS_VIEWER)
        for candidate in candidates:
            if candidate.is_file():
                return str(candidate)
    return shutil.which(VIEWER_NAMES[0]) or VIEWER_NAMES[0]


def endpoints(vbox: VBoxManage, record: MachineRecord) -> ConsoleEndpoints:
    """The native window (`VirtualBoxVM --startvm <uuid> --separate`, which attaches to a
    machine already running headless) and, while it runs, the first serial socket/pipe."""
    viewer = (viewer_executable(vbox.executable), "--startvm", record.uuid, "--separate")
    serial = None
    if states.allowed(Operation.CONSOLE, record.state):
        for port in sorted(record.spec.serial, key=lambda p: p.number):
            if port.mode is SerialMode.SOCKET and port.path:
                serial = SerialEndpoint(unix_socket=port.path)
                break
            if port.mode is SerialMode.PIPE and port.path:
                serial = SerialEndpoint(pipe=port.path)
                break
    return ConsoleEndpoints(serial=serial, native_viewer=viewer)


def screenshot(vbox: VBoxManage, record: MachineRecord) -> bytes:
    """`controlvm screenshotpng` into a private temporary folder; returns the PNG."""
    states.require(Operation.CONSOLE, record.state, record.spec.name)
    with tempfile.TemporaryDirectory(prefix="desktopvm-screen-") as folder:
        target = Path(folder) / "screen.png"
        vbox.run(["controlvm", record.uuid, "screenshotpng", str(target)])
        return target.read_bytes()


def type_text(vbox: VBoxManage, record: MachineRecord, text: str) -> None:
    """`keyboardputstring`, in pieces short enough for any command line."""
    states.require(Operation.CONSOLE, record.state, record.spec.name)
    try:
        checked = typeable(text)
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    for piece in chunks(checked):
        vbox.run(["controlvm", record.uuid, "keyboardputstring", piece])


def send_keys(vbox: VBoxManage, record: MachineRecord, keys: Sequence[str]) -> None:
    """All combinations in one `keyboardputscancode` call."""
    states.require(Operation.CONSOLE, record.state, record.spec.name)
    try:
        codes = [code for combo in keys for code in combo_to_scancodes(combo)]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    if codes:
        vbox.run(["controlvm", record.uuid, "keyboardputscancode", *codes])
