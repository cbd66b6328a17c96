"""The test keyring is a real file keyring in tmp and the previous keyring is restored after."""

from __future__ import annotations

import base64
from pathlib import Path

import keyring
import keyring.core

from desktopvm import credentials
from desktopvm.connections import HostConfig
from tests.keyring_fixture import TestKeyring, temporary_keyring, test_keyring  # noqa: F401

HOST = HostConfig(kind="hyperv", address="hv01", username="admin")


def test_passwords_go_to_the_file_in_tmp(test_keyring: TestKeyring) -> None:  # noqa: F811
    credentials.store_password(HOST, "pa55-word")
    assert keyring.get_keyring() is test_keyring.backend
    # keyrings.alt keeps the value base64-encoded (that is its "plaintext")
    assert base64.b64encode(b"pa55-word").decode() in test_keyring.path.read_text()
    assert credentials.password(HOST) == "pa55-word"
    assert credentials.forget_password(HOST)
    assert not credentials.has_password(HOST)


def test_previous_keyring_is_restored(tmp_path: Path) -> None:
    before = keyring.core._keyring_backend
    with temporary_keyring(tmp_path / "a") as outer:
        with temporary_keyring(tmp_path / "b") as inner:
            assert keyring.get_keyring() is inner.backend
        assert keyring.get_keyring() is outer.backend
    assert keyring.core._keyring_backend is before
