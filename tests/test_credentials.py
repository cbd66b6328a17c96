"""A keyring that fails (locked, no Secret Service) gives BackendUnavailable with the fix on
every call — read, store and forget — and never the secret."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend

from desktopvm import credentials
from desktopvm.connections import HostConfig
from desktopvm.protocol import BackendUnavailable

HOST = HostConfig("hyperv", "hv01.lab.example", username="LAB\\admin")
SECRET = "s3cret-Pa55"


class LockedKeyring(KeyringBackend):
    """Like a Secret Service whose collection is locked: every call fails."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")


@pytest.fixture
def locked() -> object:
    before = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    yield
    keyring.set_keyring(before)


@pytest.mark.usefixtures("locked")
def test_a_locked_keyring_is_named_with_the_fix_on_every_call() -> None:
    calls = [lambda: credentials.password(HOST),
             lambda: credentials.store_password(HOST, SECRET),
             lambda: credentials.forget_password(HOST)]
    for call in calls:
        with pytest.raises(BackendUnavailable) as caught:
            call()
        assert "system keyring" in caught.value.summary
        assert "Secret Service" in caught.value.install_hint
        assert SECRET not in str(caught.value)
    assert credentials.has_password(HOST) is False  # "not known" when it cannot be read
