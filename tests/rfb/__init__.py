"""Tests of the Qt-free RFB client."""
