"""Tests of the hypervisor backends."""
