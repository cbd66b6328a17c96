"""Tests of desktopvm-cli."""
