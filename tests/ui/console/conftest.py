"""The QEMU fixtures (backend on a temp library, the test ISOs) for the console's QEMU tests."""

from tests.backends.qemu.conftest import generic_iso, guest_iso, qemu

__all__ = ["generic_iso", "guest_iso", "qemu"]
