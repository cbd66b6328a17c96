"""Tests of the QEMU backend."""
