"""Tests of OVF/OVA import and export (desktopvm.ovf)."""
