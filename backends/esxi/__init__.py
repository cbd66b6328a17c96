"""The VMware ESXi / vCenter backend: the vSphere API through pyVmomi, one session per host.

Only remote: there is no local ESXi to detect, so `detect()` says to add a host, and
`open_remote()` builds a backend named by the host's connection id without contacting it
(the first request logs in, reading the password from the keyring then). This `__init__`
stays light: pyVmomi is imported only when a host is opened or tested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from desktopvm.protocol import ProbeResult
from desktopvm.settings import Settings

if TYPE_CHECKING:
    from backends.esxi.backend import EsxiBackend
    from desktopvm.connections import Diagnosis, HostConfig

INSTALL_HINT = ("Install DesktopVM's esxi extra (pip install 'desktopvm[esxi]'), which brings "
                "pyVmomi")


def detect(settings: Settings) -> ProbeResult:
    """Never a local backend: ESXi and vCenter are added as hosts."""
    return ProbeResult("esxi", False, reason="ESXi runs on its own server: add an ESXi host "
                       "or a vCenter (File > Add host)")


def open_remote(host: HostConfig, settings: Settings | None = None, *,
                password: str | None = None) -> EsxiBackend:
    """The backend for an ESXi host or vCenter (connects nothing yet).

    `password` is for a caller that has it in hand (Test connection before it is saved);
    otherwise it is read from the keyring at each login.
    """
    from backends.esxi.backend import EsxiBackend
    from backends.esxi.session import Session
    from desktopvm import credentials

    _require_password_login(host)
    session = Session(host, (lambda: password) if password is not None
                      else (lambda: credentials.password(host)))
    return EsxiBackend(session, connection=host.id, display_name=host.display_name)


def test_connection(host: HostConfig, settings: Settings | None = None,
                    password: str | None = None) -> Diagnosis:
    """"Test connection": DNS, TCP, TLS, login, licence, version — stopping at the first
    step that fails, saying how to fix it. Contacts the host: never on the GUI thread."""
    from backends.esxi.diagnose import diagnose

    _require_password_login(host)
    return diagnose(host, password)


def _require_password_login(host: HostConfig) -> None:
    from desktopvm.protocol import BackendUnavailable

    if host.auth == "certificate":
        raise BackendUnavailable("ESXi and vCenter log in with a user name and password here; "
                                 "certificate login is not supported")
