"""The stand-in's VNC server for a machine it starts, where the .vmx says Workstation's would be.

When `vmrun start` powers on a machine whose .vmx has `RemoteDisplay.vnc.enabled`, VMware's
own VNC server starts with it on `RemoteDisplay.vnc.ip`/`.port` with `.password` (research
§A.7). The stand-in starts, by `state["display"]`:

- "picture": fakevnc.py, a small RFB server with a fixed picture that logs key events;
- "qemu": the test guest under QEMU (TCG, `state["qemu"]` names the binary) booting the ISO
  in the .vmx's CD-ROM, its VNC server on that address with that password and its first
  serial port on the Unix socket the .vmx names, so the console code meets a real screen;
- anything else: no server (VMware with VNC off).

Stdlib only (the stand-in runs with `python -S`); fakevnc.py runs in the full interpreter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 20.0


def start(state: dict[str, Any], vmx: Path, keys: dict[str, str], folder: Path) -> None:
    """Start the machine's VNC server if its .vmx turns VNC on; remember its process."""
    if keys.get("remotedisplay.vnc.enabled", "").lower() not in ("true", "1", "yes"):
        return
    mode = state.get("display", "")
    log = (folder / "display.log").open("ab")
    try:
        if mode == "picture":
            pid = _picture(vmx, folder, log)
        elif mode == "qemu":
            pid = _qemu(keys, state["qemu"], log)
        else:
            return
    finally:
        log.close()
    if pid:
        state.setdefault("displays", {})[str(vmx)] = pid


def stop(state: dict[str, Any], vmx: Path) -> None:
    """The machine is off: its VNC server (or guest) goes with it."""
    pid = state.get("displays", {}).pop(str(vmx), 0)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def _picture(vmx: Path, folder: Path, log: Any) -> int:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "fakevnc.py"), str(vmx), str(folder)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace").strip()
    process.stdout.close()
    if line != "listening":  # the port is taken: VMware logs it; the machine still runs
        log.write(f"{vmx}: VNC server not started: {line}\n".encode())
        return 0
    return process.pid


def _qemu(keys: dict[str, str], qemu: dict[str, str], log: Any) -> int:
    host = keys.get("remotedisplay.vnc.ip", "127.0.0.1")
    port = int(keys.get("remotedisplay.vnc.port", "5900"))
    command = [qemu["binary"], "-accel", "tcg", "-m", "256", "-smp", "1", "-nic", "none",
               "-display", "none", "-monitor", "none", "-no-reboot",
               "-object", f"secret,id=vncpw,data={keys.get('remotedisplay.vnc.password', '')}",
               "-vnc", f"{host}:{port - 5900},password-secret=vncpw"]
    for key, value in keys.items():
        if key.endswith(".devicetype") and value == "cdrom-image":
            iso = keys.get(key.removesuffix(".devicetype") + ".filename", "")
            if iso:
                command += ["-cdrom", iso, "-boot", "d"]
                break
    if keys.get("serial0.filetype") == "pipe" and keys.get("serial0.filename"):
        command += ["-serial", f"unix:{keys['serial0.filename']},server=on,wait=off"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:  # Workstation's server answers once the machine is on: wait for QEMU's
        try:
            socket.create_connection((host, port), timeout=1).close()
            return process.pid
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.write(f"QEMU's VNC server never answered on {host}:{port}\n".encode())
                return 0
            time.sleep(0.1)
