"""Running govmomi's vSphere simulator (vcsim/main.go here, built by .ci/vcsim) on a loopback
port with TLS from a throwaway CA, the way a user's ESXi host would be reached."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from desktopvm.connections import HostConfig
from desktopvm.testing.doubles.certs import TlsFiles, make_tls

SOURCE = Path(__file__).parent / "vcsim" / "main.go"
USER, PASSWORD = "root", "vcsim-Pass-1"


def binary() -> Path:
    """Where .ci/vcsim keeps the build of the current main.go."""
    cache = Path(os.environ.get("DESKTOPVM_VCSIM_CACHE", "/var/cache/desktopvm/vcsim"))
    return cache / hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16] / "vcsim"


def missing_reason() -> str:
    """Why the simulator cannot run here ('' when it can)."""
    if not binary().exists():
        return (f"the vSphere simulator is not built ({binary()} is missing): run .ci/vcsim, "
                "which needs golang-go and golang-github-vmware-govmomi-dev")
    return ""


@dataclass
class Sim:
    """One running simulator."""

    process: subprocess.Popen[str]
    url: str
    tls: TlsFiles

    @property
    def port(self) -> int:
        return int(urlparse(self.url).port or 443)

    def host(self, **changes: object) -> HostConfig:
        """A HostConfig for this simulator, trusting its CA unless told otherwise."""
        values: dict[str, object] = {"kind": "esxi", "address": "127.0.0.1", "port": self.port,
                                     "username": USER, "ca_file": str(self.tls.ca)}
        values.update(changes)
        return HostConfig(**values)  # type: ignore[arg-type]

    def keys_typed(self) -> list[int]:
        """The usbHidCode values PutUsbScanCodes delivered so far (main.go keeps them)."""
        context = ssl.create_default_context(cafile=str(self.tls.ca))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/desktopvm/keys",
                                    context=context, timeout=10) as answer:
            return [int(v) for v in json.loads(answer.read())]

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        if self.process.stdout:
            self.process.stdout.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(folder: Path, *options: str) -> Sim:
    """A simulator with a fresh CA and certificate in `folder` (options: -vpx, -free, -vm N)."""
    tls = make_tls(folder, "DesktopVM vcsim")
    process = subprocess.Popen(
        [str(binary()), "-cert", str(tls.certificate), "-key", str(tls.key),
         "-username", USER, "-password", PASSWORD, *options],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("https://"):
        process.kill()
        raise RuntimeError(f"vcsim did not start (said {url!r})")
    return Sim(process, url, tls)
