"""QEMU consoles: the VNC and serial endpoints of a running machine, screenshots, keys, text."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from backends.qemu import keys, qmp
from backends.qemu.inventory import MachineStore, run_files
from backends.qemu.layout import MachineFiles
from desktopvm.protocol import (
    ConsoleEndpoints,
    SerialEndpoint,
    UnsupportedOperation,
    VncEndpoint,
)
from desktopvm.protocol.keys import UnknownKey


def endpoints(store: MachineStore, files: MachineFiles) -> ConsoleEndpoints:
    """The private VNC socket (with this run's password) and the first serial socket."""
    runtime = store.running_runtime(files)
    if runtime is None:
        return ConsoleEndpoints()
    run = run_files(files, runtime)
    spec = store.spec(files)
    serial = next((SerialEndpoint(unix_socket=str(run.serial(p.number)))
                   for p in sorted(spec.serial, key=lambda p: p.number)
                   if run.serial(p.number).exists()), None)
    return ConsoleEndpoints(vnc=VncEndpoint(unix_socket=str(run.vnc),
                                            password=runtime.vnc_password),
                            serial=serial)


def screenshot(store: MachineStore, files: MachineFiles) -> bytes:
    """A PNG of the screen, through QMP `screendump` into the machine's private run folder."""
    run = store.require_running(files, "take a screenshot of")
    target = run.folder / f"screen-{secrets.token_hex(4)}.png"
    try:
        with qmp.connect(run.qmp) as session:
            session.execute("screendump", {"filename": str(target), "format": "png"})
        return target.read_bytes()
    finally:
        target.unlink(missing_ok=True)


def type_text(store: MachineStore, files: MachineFiles, text: str) -> None:
    """Type `text` key by key on a US layout."""
    try:
        combos = keys.text_qcodes(text)
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(store, files, combos)


def send_keys(store: MachineStore, files: MachineFiles, combos: Sequence[str]) -> None:
    """Press each combination (checked against the vocabulary before QEMU sees it)."""
    try:
        qcodes = [keys.combo_qcodes(c) for c in combos]
    except UnknownKey as error:
        raise UnsupportedOperation(str(error)) from error
    _send(store, files, qcodes)


def _send(store: MachineStore, files: MachineFiles, combos: list[list[str]]) -> None:
    run = store.require_running(files, "type into")
    with qmp.connect(run.qmp) as session:
        for combo in combos:
            session.execute("send-key", {"keys": keys.qmp_keys(combo)})
