"""DesktopVM: one desktop app for the virtual machines of every hypervisor."""

__version__ = "0.1.0"
