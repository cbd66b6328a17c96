"""DesktopVM's test suite."""
