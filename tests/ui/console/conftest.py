"""The QEMU fixtures (backend on a temp library, the test ISO) for the console's QEMU tests."""

from tests.backends.qemu.conftest import guest_iso, qemu

__all__ = ["guest_iso", "qemu"]
