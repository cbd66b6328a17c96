"""Tests of the shared hardware-config model."""
