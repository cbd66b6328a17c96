"""Console endpoints: Workstation's VNC server when the .vmx turns it on, the serial ports,
VMware's own window.

Workstation's VNC server is configured in the .vmx (`RemoteDisplay.vnc.enabled`, `.port`,
`.ip`, `.password`; libvirt's mapping and fixture vmware_libvirt_remotedisplay_vnc_keys.vmx;
Packer still writes these keys for 17.x, research §A.7). When a machine has it on, its address
is offered to DesktopVM's RFB console. Screenshots: `vmrun captureScreen` needs guest
credentials (research §A.4), so none are taken here. The native window: `vmware -x <vmx>`
(Workstation), `vmplayer <vmx>` (Player), `open -a "VMware Fusion" <vmx>` (Fusion).
"""

from __future__ import annotations

import re
import secrets
import string
import sys
from pathlib import Path

from backends.vmware.inventory import Record
from backends.vmware.locate import Installation
from desktopvm.model import SerialMode
from desktopvm.protocol import (
    ConsoleEndpoints,
    SerialEndpoint,
    UnsupportedOperation,
    VncEndpoint,
)
from desktopvm.protocol.states import Operation, require

DEFAULT_VNC_PORT = 5900
OWN_VNC_PORTS = (5950, 100)  # DesktopVM's machines get 5950-6049, one port each
PASSWORD_CHARACTERS = string.ascii_letters + string.digits
_TCP = re.compile(r"^(?:telnet|tcp)://([^:/]*):(\d+)")


def vnc(record: Record) -> VncEndpoint | None:
    """The machine's VNC server, when its .vmx turns it on."""
    document = record.document
    if not document.flag("RemoteDisplay.vnc.enabled"):
        return None
    host = document.get("RemoteDisplay.vnc.ip") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 - a server on every address: reach it locally
        host = "127.0.0.1"
    return VncEndpoint(host=host, port=document.number("RemoteDisplay.vnc.port",
                                                       DEFAULT_VNC_PORT),
                       password=document.get("RemoteDisplay.vnc.password"))


def vnc_for_start(index: int) -> dict[str, str]:
    """The VNC keys a machine DesktopVM made gets before each start: Workstation's server on
    the loopback interface, a port of its own, and a new password (VNC uses 8 characters).

    Packer writes the same keys for Workstation and Fusion 17.x (StepConfigureVNC, research
    §A.7). The password is VMware's to read from the .vmx; it changes at every start.
    """
    base, count = OWN_VNC_PORTS
    password = "".join(secrets.choice(PASSWORD_CHARACTERS) for _ in range(8))
    return {"RemoteDisplay.vnc.enabled": "TRUE", "RemoteDisplay.vnc.ip": "127.0.0.1",
            "RemoteDisplay.vnc.port": str(base + index % count),
            "RemoteDisplay.vnc.password": password}


def serial(record: Record, windows: bool) -> SerialEndpoint | None:
    """The first serial port the console can attach to (a socket, a pipe, a TCP server)."""
    for port in record.spec(windows).serial:
        if port.mode is SerialMode.SOCKET and port.path:
            return SerialEndpoint(unix_socket=port.path)
        if port.mode is SerialMode.PIPE and port.path:
            return SerialEndpoint(pipe=port.path)
        if port.mode is SerialMode.TCP:
            match = _TCP.match(port.path)
            if match:
                return SerialEndpoint(host=match.group(1) or "127.0.0.1",
                                      port=int(match.group(2)))
    return None


def viewer(installation: Installation, vmx: Path) -> tuple[str, ...]:
    """VMware's own window for the machine."""
    if installation.product == "fusion" or sys.platform == "darwin":
        return ("open", "-a", "VMware Fusion", str(vmx))
    folder = Path(installation.vmrun).parent
    suffix = ".exe" if installation.windows else ""
    program = "vmplayer" if installation.product == "player" else "vmware"
    return (str(folder / f"{program}{suffix}"), *(() if program == "vmplayer" else ("-x",)),
            str(vmx))


def endpoints(installation: Installation, record: Record) -> ConsoleEndpoints:
    """The ways into a running machine."""
    require(Operation.CONSOLE, record.state, record.name)
    return ConsoleEndpoints(vnc=vnc(record), serial=serial(record, installation.windows),
                            native_viewer=viewer(installation, record.vmx))


def screenshot(record: Record) -> bytes:
    """Refused: captureScreen needs a guest login."""
    require(Operation.CONSOLE, record.state, record.name)
    raise UnsupportedOperation("vmrun's captureScreen needs a guest user name and password; "
                               "use the VNC console to see the screen")
