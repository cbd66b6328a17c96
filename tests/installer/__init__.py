"""Tests of the packaged installers (PyInstaller bundle, .deb, Windows setup under wine)."""
