"""A real file keyring (keyrings.alt) in a tmp folder, so tests never touch the user's keyring.

Use it by importing the fixture into a test module or conftest:

    from tests.keyring_fixture import TestKeyring, test_keyring  # noqa: F401  (fixture)

    def test_x(test_keyring: TestKeyring) -> None:
        credentials.store_password(host, "s3cret")     # lands in test_keyring.path
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class TestKeyring:
    """The active test keyring: the backend object and the file it writes."""

    __test__ = False  # a value, not a test class for pytest to collect

    backend: object
    path: Path


@contextmanager
def temporary_keyring(folder: Path) -> Iterator[TestKeyring]:
    """Make a plaintext file keyring in `folder` the active one; restore the previous after."""
    import keyring.core
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    folder.mkdir(parents=True, exist_ok=True)
    # file_path is a NonDataProperty: setting it on the instance points it at the folder.
    backend.file_path = str(folder / backend.filename)
    # The module global itself, not set_keyring(): the previous value may be None (not yet
    # chosen), which set_keyring refuses; putting it back exactly keeps the next test's choice.
    previous = keyring.core._keyring_backend
    keyring.core._keyring_backend = backend
    try:
        yield TestKeyring(backend=backend, path=Path(backend.file_path))
    finally:
        keyring.core._keyring_backend = previous


@pytest.fixture
def test_keyring(tmp_path: Path) -> Iterator[TestKeyring]:
    """A real keyrings.alt file keyring in tmp, active for this test only."""
    with temporary_keyring(tmp_path / "keyring") as active:
        yield active
