"""The app's settings (config.json under the state root): read tolerantly, written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from desktopvm import paths

log = logging.getLogger(__name__)


class Settings(BaseModel):
    """User preferences. Every field has a default, so a missing file means defaults."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    library_dir: str = ""  # empty: <state root>/machines
    qemu_binary: str = ""  # empty: qemu-system-x86_64 on PATH
    qemu_accel: str = ""  # empty: best available; "tcg", "kvm", "whpx", "hvf"
    vboxmanage_path: str = ""  # empty: search the usual places
    powershell_path: str = ""  # empty: powershell.exe / pwsh
    refresh_interval_s: Annotated[float, Field(ge=1, le=3600)] = 5.0

    def library(self) -> Path:
        """The folder QEMU machines live in."""
        return Path(self.library_dir).expanduser() if self.library_dir else paths.machines_dir()


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing or broken file gives defaults and a logged warning, no crash."""
    path = path or paths.config_file()
    try:
        return Settings.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, ValidationError) as error:
        log.warning("ignoring unreadable settings file %s: %s", path, error)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write settings atomically."""
    path = path or paths.config_file()
    paths.atomic_write_text(path, settings.model_dump_json(indent=2) + "\n")
