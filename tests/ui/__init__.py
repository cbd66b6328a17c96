"""Tests of the Qt user interface (pytest-qt, offscreen)."""
