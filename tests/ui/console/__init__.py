"""Tests of the console window and its VNC, serial and screenshot views."""
