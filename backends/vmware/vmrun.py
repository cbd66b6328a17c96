"""The one door to VMware's tools: vmrun, vmware-vdiskmanager and `vmware-vmx -v`.

Every process of the VMware backend starts here. Rules (research/vmware.md §A.4, §A.6, and
the captured lines in ../shared/fixtures/vmware_vmrun_error_outputs_collected.txt):

- an argument list, never a shell string; `-T ws|fusion|player` first (the 17.0 help:
  "-T <hostType> (ws|fusion||player)"), then the command, the .vmx path and its arguments;
- vmrun prints its errors on **stdout** as `Error: …` (GNS3: "vmrun print errors on stdout"),
  and "Error: The virtual machine is not powered on" has been seen with exit status 0: a
  line starting `Error:` is a failure whatever the exit code; a non-zero exit is one too;
- each known message becomes our error type (ERRORS below, each with its source);
- `-T ws` against Player answers with VIX_SERVICEPROVIDER_VMWARE_WORKSTATION: the call is
  retried once with `-T player`, as GNS3 does, and the door remembers it;
- every call has a time limit ("sometimes vmrun just hangs": Vagrant's VMRUN_START_TIMEOUT),
  and a cancel kills the process at once;
- vmware-vdiskmanager: a non-zero exit is a failure; on exit 0 its stderr warnings
  ("VixDiskLib: Invalid configuration file parameter", "SSLConfigLoad: …") are harmless;
  percentages it prints are progress.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktopvm.protocol import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    InvalidState,
    MachineNotFound,
    OperationCancelled,
    TimedOut,
    UnsupportedOperation,
)

log = logging.getLogger(__name__)

HOST_TYPES = ("ws", "fusion", "player")
DEFAULT_TIMEOUT = 120.0
START_TIMEOUT = 300.0  # Vagrant's generous start time limit: vmrun sometimes hangs
LIST_TIMEOUT = 30.0
DISK_TIMEOUT = 3600.0
PLAYER_SIGNAL = "VIX_SERVICEPROVIDER_VMWARE_WORKSTATION"
_PERCENT = re.compile(rb"(\d{1,3})\s*%")

#: (text in the Error: line, our error, what the user is told). Sources: the fixture lines
#: L1-L7 and research/vmware.md §A.4 ("Other strings seen in the wild").
ERRORS: tuple[tuple[str, type[BackendError], str], ...] = (
    ("The virtual machine is not powered on", InvalidState,  # fixture L1, L2
     "it is not running"),
    ("should not be powered on. It is already running", InvalidState,  # fixture L3
     "it is already running"),
    ("The VMware Tools are not running in the virtual machine", InvalidState,  # fixture L4
     "VMware Tools are not running in the guest, and this needs them (power it off instead, "
     "or install VMware Tools / open-vm-tools in the guest)"),
    ("The virtual machine cannot be found", MachineNotFound,  # fixture L5
     "VMware cannot find the machine's .vmx file"),
    ("Incorrect password", AuthenticationFailed,  # fixture L6
     "the machine is encrypted and the password was refused"),
    ("A password is required for this operation", AuthenticationFailed,  # §A.4
     "the machine is encrypted: it needs its password"),
    ("Cannot read the virtual machine configuration file", CommandFailed,  # §A.4
     "VMware cannot read the machine's .vmx file (config.version or virtualHW.version "
     "missing or damaged)"),
    ("The operation was canceled", OperationCancelled, "cancelled"),  # §A.4, Vagrant
    ("Anonymous guest operations are not allowed", UnsupportedOperation,  # §A.4 captureScreen
     "this needs a guest user name and password"),
    ("must be logged in interactively", UnsupportedOperation,  # §A.4
     "this needs a user logged in to the guest"),
)


@dataclass(frozen=True)
class Result:
    """One finished run."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The first `Error:` line on stdout (vmrun's error channel), or ""."""
        return next((line.strip() for line in self.stdout.splitlines()
                     if line.startswith("Error:")), "")


@dataclass
class CallStats:
    """Processes started, by tool name (tests count them: one `vmrun list` per refresh)."""

    starts: dict[str, int] = field(default_factory=dict)

    def count(self, tool: str) -> None:
        self.starts[tool] = self.starts.get(tool, 0) + 1


def failure_for(result: Result, what: str = "") -> BackendError | None:
    """The typed error a vmrun run stands for, or None when it succeeded."""
    line = result.error_line
    if not line and result.exit_code == 0:
        return None
    message = line[len("Error:"):].strip() if line else ""
    subject = what or "the machine"
    for text, kind, advice in ERRORS:
        if text.lower() in message.lower():
            summary = f"Cannot {result.argv[3] if len(result.argv) > 3 else 'run'} " \
                      f"{subject}: {advice}"
            if kind is CommandFailed:
                return CommandFailed(summary, command=result.argv, exit_code=result.exit_code,
                                     stderr=result.stderr, details=line)
            if kind is OperationCancelled:
                return OperationCancelled(details=line)
            return kind(summary, f"{line}\ncommand: {' '.join(result.argv)}")
    reason = message or (result.stderr.strip().splitlines() or ["no message"])[-1]
    return CommandFailed(f"vmrun failed for {subject}: {reason}", command=result.argv,
                         exit_code=result.exit_code, stderr=result.stderr,
                         details=result.stdout.strip())


def _decode(data: bytes) -> str:
    # vmrun writes paths as the host gives them: UTF-8 on Linux and macOS; on Windows the
    # console's ANSI code page [unverified: no Windows capture with non-ASCII paths].
    return data.decode("mbcs" if sys.platform == "win32" else "utf-8", "replace")


def spawn(argv: Sequence[str], *, timeout: float, cancel: CancelToken | None,
          on_output: Callable[[bytes], None] | None = None) -> tuple[int, bytes, bytes]:
    """Run `argv`; (exit code, stdout, stderr). TimedOut / OperationCancelled kill it."""
    flags = 0x08000000 if sys.platform == "win32" else 0  # CREATE_NO_WINDOW
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   creationflags=flags)
    except OSError as error:
        raise BackendUnavailable(f"{Path(argv[0]).name} could not be started: {error}",
                                 install_hint="Install VMware Workstation Pro (free since "
                                              "17.6.2) or VMware Fusion") from error
    out: list[bytes] = []
    err: list[bytes] = []

    def pump(stream: object, sink: list[bytes], watch: bool) -> None:
        read = getattr(stream, "read1", None) or stream.read  # type: ignore[attr-defined]
        while chunk := read(4096):
            sink.append(chunk)
            if watch and on_output:
                on_output(chunk)

    readers = [threading.Thread(target=pump, args=(process.stdout, out, True), daemon=True),
               threading.Thread(target=pump, args=(process.stderr, err, False), daemon=True)]
    for reader in readers:
        reader.start()
    unregister = cancel.on_cancel(process.kill) if cancel else (lambda: None)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                code = process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    raise TimedOut(f"{Path(argv[0]).name} did not answer within "
                                   f"{timeout:.0f} s", "command: " + " ".join(argv)) from None
        for reader in readers:
            reader.join(timeout=5)
    finally:
        unregister()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if cancel is not None and cancel.cancelled:
        raise OperationCancelled(details="command: " + " ".join(argv))
    return code, b"".join(out), b"".join(err)


class VmRun:
    """vmrun, vmware-vdiskmanager and vmware-vmx of one installation."""

    def __init__(self, vmrun: str, host_type: str = "ws", *, vdiskmanager: str = "",
                 vmware_vmx: str = "") -> None:
        if host_type not in HOST_TYPES:
            raise ValueError(f"host type must be one of {HOST_TYPES}")
        self.vmrun = vmrun
        self.host_type = host_type
        self.vdiskmanager = vdiskmanager
        self.vmware_vmx = vmware_vmx
        self.stats = CallStats()

    def run(self, command: str, *args: str, timeout: float = DEFAULT_TIMEOUT,
            cancel: CancelToken | None = None, check: bool = True, what: str = "") -> Result:
        """`vmrun -T <type> <command> <args…>`; raises the typed error unless `check` is off."""
        if not self.vmrun:
            raise BackendUnavailable("vmrun was not found",
                                     install_hint="Install VMware Workstation Pro or Fusion")
        argv = (self.vmrun, "-T", self.host_type, command, *args)
        self.stats.count("vmrun")
        code, out, err = spawn(argv, timeout=timeout, cancel=cancel)
        result = Result(argv, code, _decode(out), _decode(err))
        if PLAYER_SIGNAL in result.stdout and self.host_type == "ws":
            log.info("vmrun -T ws is refused here (Player): using -T player")
            self.host_type = "player"  # GNS3 does the same
            return self.run(command, *args, timeout=timeout, cancel=cancel, check=check,
                            what=what)
        if check:
            failure = failure_for(result, what)
            if failure is not None:
                raise failure
        return result

    def vdisk(self, args: Sequence[str], *, timeout: float = DISK_TIMEOUT,
              cancel: CancelToken | None = None,
              progress: Callable[[float], None] | None = None) -> Result:
        """`vmware-vdiskmanager <args…>`; CommandFailed on a non-zero exit."""
        if not self.vdiskmanager:
            raise BackendUnavailable("vmware-vdiskmanager was not found",
                                     install_hint="It comes with VMware Workstation and Fusion")
        argv = (self.vdiskmanager, *args)
        self.stats.count("vmware-vdiskmanager")

        def seen(chunk: bytes) -> None:
            if progress:
                for match in _PERCENT.finditer(chunk):
                    progress(min(int(match.group(1)), 100) / 100)

        code, out, err = spawn(argv, timeout=timeout, cancel=cancel, on_output=seen)
        result = Result(argv, code, _decode(out), _decode(err))
        if code != 0:
            lines = (result.stdout + result.stderr).strip().splitlines()
            raise CommandFailed(f"vmware-vdiskmanager failed: {lines[-1] if lines else code}",
                                command=argv, exit_code=code, stderr=result.stderr,
                                details=result.stdout.strip())
        return result

    def vmx_version_text(self) -> str:
        """What `vmware-vmx -v` prints (on stderr, Packer's driver_workstation_unix.go)."""
        if not self.vmware_vmx:
            return ""
        self.stats.count("vmware-vmx")
        _code, out, err = spawn((self.vmware_vmx, "-v"), timeout=LIST_TIMEOUT, cancel=None)
        return _decode(err) + _decode(out)
