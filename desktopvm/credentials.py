"""Host passwords in the OS keyring, and nowhere else: read when connecting, never logged."""

from __future__ import annotations

from types import ModuleType

from desktopvm.connections import HostConfig
from desktopvm.protocol import AuthenticationFailed, BackendUnavailable

SERVICE = "DesktopVM"
INSTALL_HINT = "Install the keyring package (pip install keyring); on Linux it needs a " \
    "Secret Service such as GNOME Keyring or KWallet"


def _keyring() -> ModuleType:
    try:
        import keyring
    except ImportError as error:
        raise BackendUnavailable("The keyring package is missing, so DesktopVM cannot keep "
                                 "host passwords", type(error).__name__,
                                 install_hint=INSTALL_HINT) from error
    return keyring


def password(host: HostConfig) -> str:
    """The password kept for `host`; AuthenticationFailed (saying what to do) when none is."""
    if host.auth == "certificate":
        return ""
    try:
        value = _keyring().get_password(SERVICE, host.credential_key)
    except BackendUnavailable:
        raise
    except Exception as error:  # a locked or absent keyring daemon: say so, not the secret
        raise BackendUnavailable("The system keyring could not be read",
                                 type(error).__name__, install_hint=INSTALL_HINT) from error
    if value is None:
        raise AuthenticationFailed(f"No password for {host.username or 'this host'} on "
                                   f"{host.address} is kept; enter it in Edit host or with "
                                   f"`desktopvm-cli host edit {host.id} --password-stdin`")
    return str(value)


def has_password(host: HostConfig) -> bool:
    """Whether a password is kept for `host` (False when the keyring cannot be read)."""
    try:
        return _keyring().get_password(SERVICE, host.credential_key) is not None
    except Exception:  # "not known" is the honest answer when it cannot be read
        return False


def store_password(host: HostConfig, secret: str) -> None:
    """Keep `secret` as the password for `host` in the OS keyring."""
    try:
        _keyring().set_password(SERVICE, host.credential_key, secret)
    except BackendUnavailable:
        raise
    except Exception as error:
        raise BackendUnavailable("The password could not be saved in the system keyring",
                                 type(error).__name__, install_hint=INSTALL_HINT) from error


def forget_password(host: HostConfig) -> bool:
    """Remove the kept password for `host`; False when there was none."""
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, host.credential_key)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as error:  # a locked or absent keyring daemon: say so, as store does
        raise BackendUnavailable("The password could not be removed from the system keyring",
                                 type(error).__name__, install_hint=INSTALL_HINT) from error
    return True
