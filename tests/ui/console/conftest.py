"""The QEMU fixtures (backend on a temp library, the test ISOs) for the console's QEMU tests,
and the ESXi ones (vcsim, a backend on it, the WebMKS endpoint) for its ESXi tests."""

from tests.backends.esxi.conftest import esx, esx_backend, webmks
from tests.backends.qemu.conftest import generic_iso, guest_iso, qemu

__all__ = ["esx", "esx_backend", "generic_iso", "guest_iso", "qemu", "webmks"]
