"""State root, resources lookup, atomic writes and tolerant settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktopvm import paths
from desktopvm.settings import Settings, load_settings, save_settings


def test_state_root_follows_desktopvm_home(desktopvm_home: Path):
    assert paths.state_root() == desktopvm_home
    assert paths.machines_dir() == desktopvm_home / "machines"


def test_state_root_defaults_to_platform_data_dir(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DESKTOPVM_HOME")
    assert "desktopvm" in str(paths.state_root()).lower()


def test_resources_are_found_from_a_source_checkout():
    assert (paths.resources_dir() / "os_catalog.json").is_file()


def test_atomic_write_replaces_and_cleans_up_on_failure(tmp_path: Path, monkeypatch):
    target = tmp_path / "f.txt"
    paths.atomic_write_text(target, "one")

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        paths.atomic_write_text(target, "two")
    assert target.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_settings_round_trip_and_broken_file_gives_defaults(desktopvm_home: Path):
    assert load_settings() == Settings()
    save_settings(Settings(qemu_accel="tcg", refresh_interval_s=10))
    assert load_settings().qemu_accel == "tcg"
    paths.config_file().write_text("{broken")
    assert load_settings() == Settings()
