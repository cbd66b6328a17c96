"""Tests of how DesktopVM is built and installed."""
