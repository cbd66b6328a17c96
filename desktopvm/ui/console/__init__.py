"""Consoles: VNC displays, serial terminals and screenshot previews in a tabbed window."""

from desktopvm.ui.console.window import ConsoleWindow, follow_serial, open_console

__all__ = ["ConsoleWindow", "follow_serial", "open_console"]
