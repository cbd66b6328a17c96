"""The Add/Edit host form's rules, without Qt: what each field may hold, and the HostConfig."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktopvm.connections import AUTH_METHODS, DEFAULT_PORTS, HostConfig

# Only these sign-ins encrypt every WinRM message over plain HTTP (the Hyper-V backend's
# WinRMConfig.check refuses the others there); Basic would send the password in the clear.
ENCRYPTING_AUTH = ("ntlm", "kerberos", "credssp")
AUTH_LABELS = {"ntlm": "NTLM", "kerberos": "Kerberos", "credssp": "CredSSP", "basic": "Basic",
               "certificate": "Certificate"}
# Sign-ins that work without a user name: Kerberos with the logged-on user's ticket, and a
# client certificate.
USER_OPTIONAL = ("kerberos", "certificate")
# The kinds whose sign-in the user chooses (WinRM's); the others log in with a user name and
# a password, and their HostConfig keeps the default `auth`.
AUTH_CHOICES: dict[str, tuple[str, ...]] = {"hyperv": AUTH_METHODS}
# A stand-in address that HostConfig accepts, to check one other field on its own.
_GOOD_ADDRESS = "localhost"


@dataclass(frozen=True)
class HostFields:
    """What the form holds (text as typed; `check_fields` trims it)."""

    kind: str
    address: str
    port: int = 0
    username: str = ""
    auth: str = "ntlm"
    https: bool = True
    ca_file: str = ""
    label: str = ""
    pinned_sha256: str = ""


def default_port(kind: str, https: bool) -> int:
    """The port a kind listens on for the transport (0 when it has none)."""
    return DEFAULT_PORTS.get((kind, https), 0)


def default_auth() -> str:
    """The sign-in a HostConfig has when none is chosen (kinds without AUTH_CHOICES)."""
    return str(next(f.default for f in dataclasses.fields(HostConfig) if f.name == "auth"))


def http_possible(kind: str) -> bool:
    """Whether the kind can be reached over plain HTTP at all (ESXi and vCenter cannot)."""
    return (kind, False) in DEFAULT_PORTS


def check_fields(fields: HostFields, taken: set[str] | frozenset[str] = frozenset(),
                 original_id: str = "") -> tuple[HostConfig | None, dict[str, str]]:
    """The HostConfig the form describes, or None, and a problem per field name.

    Field names are HostFields' ("address", "https", "username", "auth", "ca_file", "label").
    `taken` holds the ids of the hosts already added; `original_id` is the edited host's own.
    """
    address = fields.address.strip()
    username, label, ca_file = fields.username.strip(), fields.label.strip(), \
        fields.ca_file.strip()
    problems: dict[str, str] = {}
    if not address:
        problems["address"] = "Enter the host's name or IP address"
    else:
        _collect(problems, "address", lambda: HostConfig(fields.kind, address))
    _collect(problems, "username", lambda: HostConfig(fields.kind, _GOOD_ADDRESS,
                                                      username=username))
    if "username" not in problems and not username:
        if fields.kind not in AUTH_CHOICES:
            problems["username"] = "Enter the user name, e.g. root or " \
                "administrator@vsphere.local"
        elif fields.auth not in USER_OPTIONAL:
            problems["username"] = (f"{AUTH_LABELS.get(fields.auth, fields.auth)} sign-in "
                                    "needs a user name, e.g. LAB\\admin or admin@lab.example")
    _collect(problems, "label", lambda: HostConfig(fields.kind, _GOOD_ADDRESS, label=label))
    _collect(problems, "ca_file", lambda: HostConfig(fields.kind, _GOOD_ADDRESS,
                                                     ca_file=ca_file))
    # Whether the file exists is left to Test connection: a path on a share would make
    # this check, run as the user types, wait on the network.
    if "ca_file" not in problems and ca_file and not fields.https:
        problems["ca_file"] = "A CA file is only used over HTTPS"
    if fields.kind in AUTH_CHOICES and fields.auth == "certificate":
        # A host's settings have no place for the client certificate and key yet, so this
        # sign-in could never succeed: refused here rather than failing on every connect.
        problems["auth"] = ("Certificate sign-in needs a client certificate, which DesktopVM "
                            "cannot be given yet; choose NTLM, Kerberos, CredSSP or Basic")
    if not fields.https and not http_possible(fields.kind):
        problems["https"] = "This kind of host is reached over HTTPS only"
    elif not fields.https and fields.auth not in ENCRYPTING_AUTH:
        problems["https"] = (f"{AUTH_LABELS.get(fields.auth, fields.auth)} sign-in over plain "
                             "HTTP would send the password and every command readable on the "
                             "network: keep HTTPS on, or use NTLM, Kerberos or CredSSP, which "
                             "encrypt each message")
    host: HostConfig | None = None
    if not problems:
        try:
            host = HostConfig(fields.kind, address, port=fields.port, username=username,
                              auth=fields.auth, https=fields.https,
                              ca_file=str(Path(ca_file).expanduser()) if ca_file else "",
                              pinned_sha256=fields.pinned_sha256, label=label)
        except ValueError as error:  # a rule no single field broke: show it by the address
            problems["address"] = _sentence(str(error))
    if host is not None and host.id in taken and host.id != original_id:
        problems["address"] = (f"{host.id} is already one of your hosts; edit that one "
                               "instead, or use another address or port")
        host = None
    return host, problems


def _collect(problems: dict[str, str], field: str, build: Callable[[], object]) -> None:
    try:
        build()
    except ValueError as error:
        problems[field] = _sentence(str(error))


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]
