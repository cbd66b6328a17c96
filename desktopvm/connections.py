"""Connections: a backend kind on a host, how to reach it, and the state the user sees.

A local backend's connection id is its plain name ("qemu", "hyperv"); a remote host's is
`KIND@ADDRESS` (with `:PORT` when not the default), e.g. `hyperv@hv01.lab.example`. The
plain name therefore keeps meaning the local backend everywhere a backend name was used.
A `HostConfig` is what the settings keep for a remote host — never a secret: passwords are
in the OS keyring, keyed by `credential_key`.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any

from desktopvm.protocol import CertificateFacts

# The kinds a user can add as a remote host, with their display names. A kind listed here
# must offer `open_remote(host, settings)` in its package (see registry.Registry.open).
REMOTE_KINDS: dict[str, str] = {"hyperv": "Hyper-V", "esxi": "VMware ESXi / vCenter"}
AUTH_METHODS = ("ntlm", "kerberos", "credssp", "basic", "certificate")
# Authentications that seal every message themselves, so plain HTTP exposes nothing.
ENCRYPTING_AUTH = ("ntlm", "kerberos", "credssp")
HTTPS_ONLY_KINDS = frozenset({"esxi"})  # the vSphere API is served over HTTPS only
DEFAULT_PORTS = {("hyperv", True): 5986, ("hyperv", False): 5985, ("esxi", True): 443}
# Host names (RFC 1123 labels), IPv4 and bracket-less IPv6: letters, digits, '.', '-', ':'.
_ADDRESS = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-:]{0,252}[A-Za-z0-9])?$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def kind_of(connection_id: str) -> str:
    """The backend kind of a connection id: 'hyperv@hv01' -> 'hyperv', 'qemu' -> 'qemu'."""
    return connection_id.partition("@")[0]


def is_remote(connection_id: str) -> bool:
    """Whether a connection id names a remote host (local ones are plain backend names)."""
    return "@" in connection_id


def normalize_fingerprint(text: str) -> str:
    """'AB:CD:…' or 'abcd…' -> 64 lower-case hex digits (ValueError if it is not SHA-256)."""
    value = text.strip().lower().replace(":", "").replace(" ", "")
    if not _FINGERPRINT.fullmatch(value):
        raise ValueError("a certificate fingerprint is 64 hexadecimal digits (SHA-256)")
    return value


@dataclass(frozen=True)
class HostConfig:
    """A remote host the user added: where it is and how to talk to it. Holds no secret."""

    kind: str
    address: str
    port: int = 0  # 0: the kind's default for the transport
    username: str = ""
    auth: str = "ntlm"
    https: bool = True
    ca_file: str = ""  # a PEM file of extra CAs to trust for this host
    pinned_sha256: str = ""  # the certificate the user accepted (hex SHA-256), if any
    label: str = ""  # what the tree shows; empty: the address

    def __post_init__(self) -> None:
        if self.kind not in REMOTE_KINDS:
            known = ", ".join(REMOTE_KINDS)
            raise ValueError(f"unknown host kind {self.kind!r}; DesktopVM can add: {known}")
        if not _ADDRESS.fullmatch(self.address) or ".." in self.address:
            raise ValueError(f"{self.address!r} is not a host name or IP address")
        if ":" in self.address and not _is_ipv6(self.address):
            # "hv01:5985" would become a connection id whose port nobody reads.
            raise ValueError(f"{self.address!r} is not a host name or IP address; give the "
                             "port in its own field")
        if not 0 <= self.port <= 65535:
            raise ValueError("the port must be between 1 and 65535")
        if self.auth not in AUTH_METHODS:
            raise ValueError(f"unknown authentication {self.auth!r}; use one of "
                             f"{', '.join(AUTH_METHODS)}")
        if self.auth == "certificate":
            # A host's settings have no place for the client certificate and key yet, so
            # this sign-in could never succeed: refused here, for the app and the CLI alike.
            raise ValueError("Certificate sign-in needs a client certificate, which DesktopVM "
                             "cannot be given yet; choose NTLM, Kerberos, CredSSP or Basic")
        if not self.https and self.kind in HTTPS_ONLY_KINDS:
            raise ValueError(f"{REMOTE_KINDS[self.kind]} is reached over HTTPS only")
        if not self.https and self.auth not in ENCRYPTING_AUTH:
            raise ValueError(f"{self.auth.capitalize()} authentication over plain HTTP would "
                             "expose the password and every command to the network; use HTTPS, "
                             "or NTLM, Kerberos or CredSSP (which encrypt each message)")
        if self.pinned_sha256:
            object.__setattr__(self, "pinned_sha256", normalize_fingerprint(self.pinned_sha256))
        if any(ord(c) < 32 for c in self.username + self.label + self.ca_file):
            raise ValueError("names and paths cannot hold control characters")

    @property
    def id(self) -> str:
        """The connection id: 'hyperv@hv01.lab.example' (':PORT' only when not the default)."""
        default = DEFAULT_PORTS.get((self.kind, self.https), 0)
        port = f":{self.port}" if self.port and self.port != default else ""
        return f"{self.kind}@{self.address.lower()}{port}"

    @property
    def effective_port(self) -> int:
        """The port actually used."""
        return self.port or DEFAULT_PORTS.get((self.kind, self.https), 0)

    @property
    def display_name(self) -> str:
        """'hv01.lab.example (Hyper-V)' or the user's label."""
        return self.label or f"{self.address} ({REMOTE_KINDS[self.kind]})"

    @property
    def credential_key(self) -> str:
        """The keyring user name under which this host's password is kept."""
        return f"{self.username}@{self.id}"

    def replace(self, **changes: Any) -> HostConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_data(self) -> dict[str, Any]:
        """The settings file's form."""
        return dataclasses.asdict(self)


def host_from_data(data: object) -> HostConfig:
    """A HostConfig from the settings file: unknown keys ignored, wrong types refused."""
    if not isinstance(data, dict):
        raise ValueError("each host must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(HostConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        expected = {"int": int, "bool": bool}.get(str(field.type), str)
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise ValueError(f"host field {key} must be {expected.__name__}")
        values[key] = value
    for required in ("kind", "address"):
        if required not in values:
            raise ValueError(f"a host needs its {required}")
    return HostConfig(**values)


class State(enum.Enum):
    """What a connection is doing, as the user sees it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTH_FAILED = "authentication failed"
    UNTRUSTED = "certificate not trusted"
    UNREACHABLE = "unreachable"
    DISCONNECTED = "disconnected"  # by the user: nothing is tried until they reconnect


@dataclass(frozen=True)
class Status:
    """A connection's state, why, what to do about it, and when it is tried again."""

    state: State
    reason: str = ""
    fix: str = ""
    retry_at: float = 0.0  # time.monotonic() of the next automatic try; 0: none planned
    since: float = dataclasses.field(default_factory=time.time)

    def retry_in(self, now: float | None = None) -> float:
        """Seconds until the next automatic try (0 when none is planned or it is due)."""
        if not self.retry_at:
            return 0.0
        return max(0.0, self.retry_at - (time.monotonic() if now is None else now))

    def line(self) -> str:
        """One line for a tree node or `host list`: 'unreachable: … (retrying in 8 s)'."""
        text = self.state.value
        if self.reason:
            text += f": {self.reason}"
        wait = self.retry_in()
        if self.state is State.UNREACHABLE and wait > 0:
            text += f" (retrying in {wait:.0f} s)"
        return text


class Backoff:
    """Delays between automatic reconnects: 2, 4, 8 … seconds, at most `ceiling`."""

    def __init__(self, first: float = 2.0, ceiling: float = 300.0) -> None:
        self.first, self.ceiling = first, ceiling
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next try after one more failure."""
        self.failures += 1
        return float(min(self.ceiling, self.first * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        """A success: the next failure starts again from `first`."""
        self.failures = 0


@dataclass(frozen=True)
class Check:
    """One step of "Test connection": DNS, TCP, TLS, authentication, WinRM, Hyper-V, rights."""

    name: str
    ok: bool
    detail: str = ""  # what was found, e.g. "10.0.0.5" or "connection refused"
    fix: str = ""  # what to do, in words the host's admin knows (empty when ok)


@dataclass(frozen=True)
class Diagnosis:
    """What "Test connection" found, step by step; it stops at the first step that fails."""

    host: str  # the connection id tested
    checks: tuple[Check, ...]
    certificate: CertificateFacts | None = None  # the host's certificate, when TLS was reached
    certificate_trusted: bool = False  # by this computer, the CA file, or the pinned fingerprint
    version: str = ""  # the hypervisor's version, when it got that far

    @property
    def ok(self) -> bool:
        """Every step passed."""
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failure(self) -> Check | None:
        """The step that failed, if one did."""
        return next((check for check in self.checks if not check.ok), None)
