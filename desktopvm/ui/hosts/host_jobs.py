"""What the host dialog runs on workers: Test connection, and putting the password in place.

No Qt here: these functions block (network, keyring) and run only in JobRunner workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktopvm import credentials
from desktopvm.connections import Diagnosis, HostConfig
from desktopvm.protocol import AuthenticationFailed
from desktopvm.registry import Registry


@dataclass(frozen=True)
class TestOutcome:
    """What the Test connection job hands back. Testing never writes the keyring: the typed
    password is kept only when the user presses OK, so Cancel leaves the keyring as it was."""

    diagnosis: Diagnosis


def test_host(registry: Registry, host: HostConfig, password: str | None,
              kept_for: HostConfig | None = None) -> TestOutcome:
    """Test `host` with the typed password, else the kept one. Runs in a worker.

    With no password typed, the keyring's is used: `kept_for`'s when given (an edited host
    whose user name or address changed, so its password is still under the old key).
    """
    tried = password
    if tried is None and kept_for is not None:
        try:
            tried = credentials.password(kept_for)
        except AuthenticationFailed:  # none kept there either: the test says so
            tried = None
    return TestOutcome(registry.test_host(host, tried))


def keep_password(host: HostConfig, password: str | None, original: HostConfig | None) -> None:
    """Put the password where `host` will look for it. Runs in a worker.

    A typed password is stored under the host's key. With none typed, an edited host whose
    key changed (new user name or address) takes the kept password along, and the original
    key's is removed: no orphan secrets stay in the keyring.
    """
    moved = original is not None and original.credential_key != host.credential_key
    if password:
        credentials.store_password(host, password)
    elif moved and original is not None and host.auth != "certificate":
        try:
            kept = credentials.password(original)
        except AuthenticationFailed:  # nothing was kept: nothing to move
            kept = ""
        if kept:
            credentials.store_password(host, kept)
    if moved and original is not None:
        credentials.forget_password(original)
