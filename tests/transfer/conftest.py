"""Fixtures for copy, move and import tests: the Hyper-V double, local and over WinRM."""

from tests.backends.hyperv.conftest import (  # noqa: F401 - shared fixtures
    fake_host,
    remote_hyperv,
    winrm_server,
)
