"""Consoles: VNC displays, serial terminals and screenshot previews in a tabbed window."""

from desktopvm.ui.console.window import ConsoleWindow, open_console

__all__ = ["ConsoleWindow", "open_console"]
