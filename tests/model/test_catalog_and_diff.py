"""The OS catalog, defaults_for, MAC normalisation and the change diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from desktopvm.model import (
    ControllerKind,
    CpuSpec,
    NetworkAdapter,
    NicModel,
    catalog,
    changed_fields,
    changed_groups,
    defaults_for,
)
from desktopvm.model.catalog import CatalogError, load_catalog
from tests.model.caps import BIOS_ONLY, TEST_CAPS

REQUIRED_IDS = {"windows11", "windows10", "windows-server-2019", "windows-server-2022",
                "windows-server-2025", "ubuntu22.04", "ubuntu24.04", "debian12", "debian13",
                "fedora", "rhel9", "almalinux9", "rocky9", "opensuse-leap", "arch", "freebsd14",
                "other-linux", "other"}


def test_catalog_has_the_common_guests_with_virtualbox_ids():
    entries = catalog()
    assert set(entries.ids()) >= REQUIRED_IDS
    assert len(entries.ids()) >= 30
    for entry in entries.entries:
        assert entry.backend_ids.get("virtualbox"), entry.id
        assert entry.backend_ids.get("hyperv") in {"1", "2"}, entry.id
    win11 = entries.get("windows11")
    assert win11 is not None and win11.backend_ids["virtualbox"] == "Windows11_64"
    assert (win11.tpm, win11.secure_boot, win11.memory_mib, win11.disk_gib) == (True, True,
                                                                                4096, 64)


def test_defaults_pick_the_first_bus_and_nic_the_backend_has():
    linux = defaults_for("debian12", TEST_CAPS)
    assert linux.storage[0].kind is ControllerKind.VIRTIO
    assert linux.network[0].model is NicModel.VIRTIO
    # virtio cannot hold a DVD drive: the ISO goes on a second controller.
    assert linux.storage[1].kind in (ControllerKind.SATA, ControllerKind.IDE)
    assert linux.all_optical()


def test_defaults_drop_what_the_backend_cannot_do():
    spec = defaults_for("windows11", BIOS_ONLY, name="x")
    assert (spec.firmware.kind.value, spec.firmware.secure_boot, spec.firmware.tpm) == (
        "bios", False, False)


def test_defaults_respect_host_bounds():
    small = TEST_CAPS.model_copy(update={"max_cpus": 1, "max_memory_mib": 2048})
    spec = defaults_for("windows11", small)
    assert (spec.cpu.count, spec.memory.size_mib) == (1, 2048)


def test_unknown_os_falls_back_to_other():
    assert defaults_for("plan9", TEST_CAPS).os == "other"


def test_broken_catalog_file_is_a_catalog_error(tmp_path: Path):
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"schema_version": 1, "entries": [{"id": "x"}]}))
    with pytest.raises(CatalogError, match=str(bad)):
        load_catalog(bad)


@pytest.mark.parametrize("raw", ["52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF", "525400abcdef"])
def test_mac_is_normalised(raw):
    assert NetworkAdapter(mac=raw).mac == "52:54:00:AB:CD:EF"


@pytest.mark.parametrize("raw", ["52:54:00:ab:cd", "zz:54:00:ab:cd:ef", "52:54:00:ab:cd:ef:00"])
def test_bad_mac_is_refused(raw):
    with pytest.raises(ValidationError):
        NetworkAdapter(mac=raw)


def test_specs_are_immutable():
    spec = defaults_for("debian12", TEST_CAPS)
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_diff_names_only_what_changed():
    old = defaults_for("debian12", TEST_CAPS, name="a")
    new = old.model_copy(update={"cpu": CpuSpec(count=4), "notes": "hi"})
    assert changed_fields(old, new) == ["cpu.count", "notes"]
    assert changed_groups(old, new) == {"cpu", "notes"}
    assert changed_fields(old, old) == []
    added = old.model_copy(update={"network": (*old.network, NetworkAdapter())})
    assert changed_fields(old, added) == ["network"]
