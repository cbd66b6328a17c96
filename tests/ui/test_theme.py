"""The theme: follows the OS colour scheme, or Light/Dark chosen in Preferences and saved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktopvm.settings import Settings, load_settings
from desktopvm.ui import theme
from desktopvm.ui.preferences_dialog import PreferencesDialog
from tests.ui.test_preferences_apply import window  # noqa: F401 (a fixture)


def window_lightness() -> int:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness()


@pytest.fixture(autouse=True)
def light_again():
    """Every test leaves the application as it found it: the OS's scheme, light here."""
    yield
    theme.apply_theme("")


def test_dark_and_light_change_the_palette(qtbot):
    theme.apply_theme("dark")
    assert window_lightness() < 60 and theme.is_dark()
    disabled = QApplication.palette().color(QPalette.ColorGroup.Disabled,
                                            QPalette.ColorRole.Text)
    assert 90 < disabled.lightness() < 160  # greyed text stays readable on the dark window
    assert theme.error_colour() == "#ff8a80"
    theme.apply_theme("light")
    assert window_lightness() > 180 and not theme.is_dark()
    assert theme.error_colour() == "#b00020"


def test_following_the_os_repaints_when_the_os_switches(qtbot, monkeypatch):
    scheme = [Qt.ColorScheme.Light]
    monkeypatch.setattr(theme, "wants_dark",
                        lambda chosen: chosen == "dark" or (
                            not chosen and scheme[0] is Qt.ColorScheme.Dark))
    theme.apply_theme("")
    assert window_lightness() > 180
    scheme[0] = Qt.ColorScheme.Dark
    QApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert window_lightness() < 60
    theme.apply_theme("light")  # a choice of the user's wins over the OS
    QApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert window_lightness() > 180


def test_preferences_offer_the_theme_and_saving_applies_it(qtbot, window, tmp_path: Path,  # noqa: F811
                                                            monkeypatch):
    config = tmp_path / "config.json"
    monkeypatch.setenv("DESKTOPVM_HOME", str(tmp_path))
    monkeypatch.setattr("desktopvm.paths.config_file", lambda: config)
    registry = window.registry
    dialog = PreferencesDialog(registry.settings, [], window)
    qtbot.addWidget(dialog)
    combo = dialog.theme
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "light", "dark"]
    assert combo.currentData() == ""
    combo.setCurrentIndex(combo.findData("dark"))
    dialog.saved.connect(window.apply_settings)
    dialog._save()
    assert json.loads(config.read_text())["theme"] == "dark"
    assert load_settings(config).theme == "dark"
    assert window_lightness() < 60
    assert window.registry is registry  # no backend reads the theme: nothing reopened
    repaints: list[str] = []
    monkeypatch.setattr("desktopvm.ui.main_window.apply_theme", repaints.append)
    window.apply_settings(window.registry.settings.replace(refresh_interval_s=7))
    assert repaints == []  # saving other preferences does not repaint the whole app


def test_an_unknown_theme_in_the_file_means_the_os_s():
    theme.apply_theme("purple")
    assert theme._THEME[0].theme == ""
    assert Settings(theme="dark").theme == "dark"
