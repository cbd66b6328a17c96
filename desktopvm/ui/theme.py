"""Light or dark: the app follows the OS colour scheme, or the one chosen in Preferences."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from desktopvm.ui.widget_lists import all_widgets

THEMES = ("", "light", "dark")  # "": as the operating system says
_DARK = {
    QPalette.ColorRole.Window: "#202124", QPalette.ColorRole.WindowText: "#e8eaed",
    QPalette.ColorRole.Base: "#17181a", QPalette.ColorRole.AlternateBase: "#26282b",
    QPalette.ColorRole.ToolTipBase: "#303134", QPalette.ColorRole.ToolTipText: "#e8eaed",
    QPalette.ColorRole.PlaceholderText: "#9aa0a6", QPalette.ColorRole.Text: "#e8eaed",
    QPalette.ColorRole.Button: "#2d2f31", QPalette.ColorRole.ButtonText: "#e8eaed",
    QPalette.ColorRole.BrightText: "#ffffff", QPalette.ColorRole.Light: "#3c4043",
    QPalette.ColorRole.Midlight: "#34373a", QPalette.ColorRole.Mid: "#3c4043",
    QPalette.ColorRole.Dark: "#111213", QPalette.ColorRole.Shadow: "#000000",
    QPalette.ColorRole.Highlight: "#2f6fdb", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8ab4f8", QPalette.ColorRole.LinkVisited: "#c58af9",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#7f8388", QPalette.ColorRole.Text: "#7f8388",
    QPalette.ColorRole.ButtonText: "#7f8388", QPalette.ColorRole.Highlight: "#3c4043",
}


def dark_palette() -> QPalette:
    """A dark palette with readable disabled (greyed) text."""
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role, colour in _DARK_DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def wants_dark(theme: str) -> bool:
    """Whether `theme` (a Settings.theme value) means dark now."""
    if theme in ("light", "dark"):
        return theme == "dark"
    return QGuiApplication.styleHints().colorScheme() is Qt.ColorScheme.Dark


class Theme:
    """Applies a theme to the application and, for "follow the OS", re-applies it when the
    OS switches between light and dark while the app runs."""

    def __init__(self, app: QApplication) -> None:
        self.app = app
        self.theme = ""
        self.native_style = app.style().name()
        self.dark = False
        app.styleHints().colorSchemeChanged.connect(self._os_changed)

    def apply(self, theme: str) -> None:
        """Use `theme`: "" (the OS's), "light" or "dark"; unknown values mean the OS's."""
        self.theme = theme if theme in THEMES else ""
        hints = self.app.styleHints()
        if self.theme == "dark":
            hints.setColorScheme(Qt.ColorScheme.Dark)  # the title bar too, where the OS can
        elif self.theme == "light":
            hints.setColorScheme(Qt.ColorScheme.Light)
        else:
            hints.unsetColorScheme()
        self._paint()

    def _os_changed(self) -> None:
        if not self.theme:
            self._paint()

    def _paint(self) -> None:
        # Native styles do not all draw dark (Windows' classic style, GTK without a dark
        # theme), so a dark scheme gets Fusion with our palette: the same on every platform.
        self.dark = wants_dark(self.theme)
        if self.dark:
            self.app.setStyle(QStyleFactory.create("Fusion"))
            self.app.setPalette(dark_palette())
        else:
            self.app.setStyle(QStyleFactory.create(self.native_style) or
                              QStyleFactory.create("Fusion"))
            self.app.setPalette(QPalette())  # nothing set: the platform's own palette again
        for widget in all_widgets():  # listed safely: see widget_lists.py
            # A widget with a style sheet keeps the palette it was polished with: polish it
            # again, so a title styled for size follows the new text colour too.
            if widget.styleSheet():
                widget.setStyleSheet(widget.styleSheet())


def is_dark() -> bool:
    """Whether the application's palette is dark now (its window colour)."""
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def error_colour() -> str:
    """Red text readable on the current background: dark red on light, light red on dark."""
    return "#ff8a80" if is_dark() else "#b00020"


_THEME: list[Theme] = []  # the one Theme of the running application, made on first use


def apply_theme(theme: str) -> None:
    """Apply a Settings.theme value to the running application (at start and on save)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if not _THEME or _THEME[0].app is not app:
        _THEME[:] = [Theme(app)]
    _THEME[0].apply(theme)
