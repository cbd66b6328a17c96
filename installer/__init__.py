"""Build and packaging tooling for DesktopVM (not shipped)."""
