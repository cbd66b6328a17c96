"""A real VirtualBox 7.2 (VBoxManage + its own VBoxSVC) in the sid root, private to one test.

`.ci/virtualbox-root` builds the root; `vboxmanage-in-root` beside this file runs VBoxManage
in it with bubblewrap. Each `RealVBox` has its own VBOX_USER_HOME, its own /tmp inside the
root (where VBoxSVC's IPC socket lives, so its clients find this VBoxSVC and no other) and its
own machine folder; the test session's temporary folder is bound at the same path inside, so
every path means the same file on both sides. The VBoxSVC is started here, in the foreground,
and ended by its process id when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from backends.virtualbox.backend import VirtualBoxBackend
from desktopvm.settings import Settings

WRAPPER = Path(__file__).resolve().with_name("vboxmanage-in-root")
ROOT = Path(os.environ.get("DESKTOPVM_VBOX_ROOT", "/var/cache/desktopvm/vbox-sid"))
READY_MARKER = ".desktopvm-vbox-ready"
SVC_START_TIMEOUT = 20.0
SVC_STOP_TIMEOUT = 20.0
LIVE_REASON = ("needs a running VM, which VirtualBox cannot start without its kernel driver "
               "(vboxdrv); the live_virtualbox suite covers it")


def root_problem() -> str:
    """Why the real VirtualBox cannot be used here ('' when it can)."""
    if not (ROOT / READY_MARKER).is_file():
        return f"no VirtualBox 7.2 root at {ROOT} (build it with .ci/virtualbox-root)"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (.ci/virtualbox-root installs it)"
    return ""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(part) for part in text.split()]


class RealVBox:
    """One private VirtualBox: a VBoxSVC of our own, and VBoxManage calls that reach it."""

    def __init__(self, folder: Path, shared: Path) -> None:
        self.folder = folder
        self.home = folder / "vbox-home"
        self.tmp = folder / "vbox-tmp"
        self.machine_folder = folder / "VirtualBox VMs"  # a space in it, as on real hosts
        for path in (self.home, self.tmp, self.machine_folder):
            path.mkdir(parents=True, exist_ok=True)
        self.shared = shared
        self._svc: subprocess.Popen[bytes] | None = None
        self.svc_pid = 0

    def environment(self) -> dict[str, str]:
        """What the wrapper (and so the backend's door) needs in its environment."""
        return {"DESKTOPVM_VBOX_ROOT": str(ROOT), "DESKTOPVM_VBOX_BIND": str(self.shared),
                "DESKTOPVM_VBOX_TMP": str(self.tmp), "VBOX_USER_HOME": str(self.home),
                "DESKTOPVM_VBOXMANAGE": str(WRAPPER)}

    # -- VBoxSVC ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start our VBoxSVC and wait for its IPC socket; set the machine folder."""
        log = (self.folder / "vboxsvc.out").open("wb")
        self._svc = subprocess.Popen([str(WRAPPER), "--vboxsvc"], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **self.environment()})
        log.close()
        deadline = time.monotonic() + SVC_START_TIMEOUT
        while not list(self.tmp.glob(".vbox-*-ipc/ipcd")):
            if self._svc.poll() is not None or time.monotonic() > deadline:
                output = (self.folder / "vboxsvc.out").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"VBoxSVC did not start: {output[-2000:]}")
            time.sleep(0.02)
        children = _children(self._svc.pid)
        self.svc_pid = children[0] if children else 0
        self.run("setproperty", "machinefolder", str(self.machine_folder))

    def stop(self) -> None:
        """End our VBoxSVC (SIGTERM lets it save its settings), then bubblewrap around it."""
        process, self._svc = self._svc, None
        if process is None:
            return
        pids = [self.svc_pid] if self.svc_pid else _children(process.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            process.wait(SVC_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait(SVC_STOP_TIMEOUT)

    # -- direct calls (VirtualBox's own word, for checking what the backend did) -------------
    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """VBoxManage `args` in this VirtualBox; stdout without the launcher's WARNING block."""
        result = subprocess.run([str(WRAPPER), *args], capture_output=True, text=True,
                                env={**os.environ, **self.environment(), "LC_ALL": "C.UTF-8"},
                                timeout=120, check=False)
        if check and (result.returncode != 0 or "error:" in result.stderr):
            raise AssertionError(f"VBoxManage {' '.join(args)} failed ({result.returncode}): "
                                 f"{result.stderr}")
        return subprocess.CompletedProcess(result.args, result.returncode,
                                           strip_warning(result.stdout), result.stderr)

    def machine_readable(self, machine: str) -> dict[str, str]:
        """`showvminfo --machinereadable` as a dict (values unquoted, no escapes handled)."""
        pairs: dict[str, str] = {}
        for line in self.run("showvminfo", machine, "--machinereadable").stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                key = key.strip('"')
                pairs[key] = value[1:-1] if value.startswith('"') and value.endswith('"') else value
        return pairs

    def backend(self) -> VirtualBoxBackend:
        """The real backend through its one door (DESKTOPVM_VBOXMANAGE must point here)."""
        return VirtualBoxBackend(Settings(vboxmanage_path=str(WRAPPER)))


def strip_warning(text: str) -> str:
    """The text without the Debian launcher's `WARNING: ... /dev/vboxdrv ...` block."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("WARNING: The character device /dev/vboxdrv"):
        lines = lines[1:]
        while lines and (lines[0].startswith("\t") or not lines[0].strip()):
            lines = lines[1:]
    return "".join(lines)
