"""Suite-wide fixtures: an isolated DESKTOPVM_HOME per test, offscreen Qt, the fixtures folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never use KVM: on some hosts /dev/kvm opens but guests die after a minute.
os.environ.setdefault("DESKTOPVM_QEMU_ACCEL", "tcg")

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def desktopvm_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty state root."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DESKTOPVM_HOME", str(home))
    return home


@pytest.fixture
def shared_fixtures() -> Path:
    """Real captured outputs from public projects (../shared/fixtures), or skip."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real captured outputs not found at {SHARED_FIXTURES} (../shared/fixtures)")
    return SHARED_FIXTURES
