"""The Hyper-V backend: one long-lived PowerShell session per host, locally or over WinRM.

Every operation is a `.ps1` file shipped in `scripts/`; requests carry only the script's
name and its arguments as JSON, so nothing the user types ever becomes PowerShell code.
This `__init__` stays light: `detect()` only looks for a PowerShell executable; the
backend's own `probe()` asks that PowerShell whether Hyper-V is there and usable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.hyperv.backend import HyperVBackend
    from backends.hyperv.winrm_transport import WinRMConfig
    from desktopvm.connections import Check, Diagnosis, HostConfig


def detect(settings: Settings) -> ProbeResult:
    """Is there a PowerShell to ask? (Starts nothing; `probe()` asks it about Hyper-V.)"""
    from backends.hyperv.locate import find_powershell, install_hint

    if find_powershell(settings.powershell_path) is None:
        return ProbeResult("hyperv", False, reason="Hyper-V needs Windows PowerShell on a "
                           "Windows host", install_hint=install_hint())
    return ProbeResult("hyperv", True)


def open_backend(settings: Settings) -> HyperVBackend:
    """Hyper-V on this computer, through one local PowerShell session."""
    from backends.hyperv.backend import HyperVBackend
    from backends.hyperv.locate import find_powershell
    from backends.hyperv.session import LocalProcessChannel

    executable = find_powershell(settings.powershell_path) or "powershell.exe"
    return HyperVBackend(lambda: LocalProcessChannel(executable), host="localhost", local=True)


def open_remote(host: HostConfig | WinRMConfig, settings: Settings | None = None, *,
                connection: str = "", display_name: str = "") -> HyperVBackend:
    """Hyper-V on a remote Windows host, through one WinRM shell running PowerShell.

    Connects nothing yet: the first request opens the shell (reading the password from the
    keyring then), and a request after a dropped connection opens a new one.
    """
    from backends.hyperv.backend import HyperVBackend
    from backends.hyperv.winrm_transport import WinRMChannel, WinRMConfig, config_for_host

    if isinstance(host, WinRMConfig):
        config = host
        return HyperVBackend(lambda: WinRMChannel(config), host=config.host, local=False,
                             connection=connection, display_name=display_name)
    from desktopvm import credentials

    config = config_for_host(host)
    return HyperVBackend(lambda: WinRMChannel(config, password=lambda _c: credentials.password(
        host)), host=host.address, local=False, connection=connection or host.id,
        display_name=display_name or host.display_name)


def test_connection(host: HostConfig, settings: Settings | None,
                    password: str | None = None) -> Diagnosis:
    """"Test connection" for a remote host: DNS, TCP, TLS, authentication, the WinRM shell,
    Hyper-V and the account's rights, stopping at the first step that fails (diagnose.py).
    With no `password`, the keyring's is used. Contacts the host: never on the GUI thread."""
    from backends.hyperv.diagnose import test_connection as diagnose

    return diagnose(host, settings, password)


def doctor_checks(settings: Settings, backend: HyperVBackend | None = None) -> list[Check]:
    """`desktopvm-cli doctor`: this computer's Hyper-V (or `backend`'s host), with fixes."""
    from backends.hyperv import doctor
    from backends.hyperv.locate import find_powershell, install_hint
    from desktopvm.connections import Check

    if backend is None:
        if find_powershell(settings.powershell_path) is None:
            return [Check("PowerShell", False, "not found (Hyper-V needs a Windows host)",
                          install_hint())]
        backend = open_backend(settings)
        try:
            return doctor.run(backend.runner)
        finally:
            backend.close()
    return doctor.run(backend.runner)
