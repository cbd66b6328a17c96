"""Kept for the main window's import: the console window lives in desktopvm.ui.console."""

from desktopvm.ui.console import ConsoleWindow, follow_serial, open_console

__all__ = ["ConsoleWindow", "follow_serial", "open_console"]
