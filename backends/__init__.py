"""Hypervisor backends, one sub-package each; reached only through `desktopvm.registry`."""
