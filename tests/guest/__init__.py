"""Tiny bootable test guest (Debian kernel + busybox) used by the QEMU integration tests."""
