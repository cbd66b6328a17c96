"""QEMU for real: an unattended seed reaches the guest, and leaves after the first boot; a
cloud image is checked, converted, grown and gets its cidata seed; a hostile one is refused.

The test guest (generic kernel: it has AHCI for the SATA CD drives) stands in for the
installer: it mounts the second CD drive and prints what it finds there on serial.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pycdlib
import pytest

from backends.qemu.backend import QemuBackend
from desktopvm import seeds
from desktopvm.protocol import PowerState
from desktopvm.settings import load_settings
from desktopvm.testing.qemu_guest import PROMPT, SerialReader
from tests.backends.qemu.conftest import generic_iso  # noqa: F401 - the session fixture
from tests.backends.qemu.test_qemu_cli import cli
from tests.media.unattended.formats import read_yaml

pytestmark = [pytest.mark.qemu, pytest.mark.slow]
PASSWORD = "Pa$$ 'w\"ord"


def _wait_off(machine_id: str) -> None:
    """Asked of the backend, not the CLI: the CLI would already take the seed out."""
    backend = QemuBackend(load_settings())
    for _ in range(600):  # the guest powers itself off; give TCG time
        if backend.get_machine(machine_id).state is PowerState.OFF:
            return
        time.sleep(0.2)
    raise AssertionError(f"{machine_id} never powered off")


def _read_seed(reader: SerialReader) -> str:
    reader.load_driver("sr_mod")
    reader.load_driver("isofs")
    out = reader.run("mkdir -p /mnt; mount -t iso9660 -o ro /dev/sr1 /mnt && "
                     "for f in /mnt/*; do echo \"SEED-FILE $f\"; done; "
                     "cat /mnt/user-data; umount /mnt; echo; echo SEED-READ-$((40+2))",
                     b"SEED-READ-42", timeout=60)
    return out.decode("utf-8", errors="replace").replace("\r", "")


def test_unattended_seed_reaches_the_guest_and_goes_after_first_boot(
        generic_iso: Path, desktopvm_home: Path):  # noqa: F811
    name = "unattended"
    created = cli("create", "--backend", "qemu", "--name", name, "--os", "ubuntu24.04",
                  "--firmware", "bios", "--memory", "256M", "--cpus", "1", "--disk", "64M",
                  "--iso", str(generic_iso), "--network", "none", "--unattended", "--user",
                  "ann", "--full-name", "Ann O'Neil", "--hostname", "seedbox",
                  "--password-stdin", "--json", stdin=PASSWORD + "\n")
    data = json.loads(created.stdout)
    seed = Path(next(d["iso"] for c in data["spec"]["storage"] for d in c["optical"]
                     if ".seeds" in d["iso"]))
    # The password is in no file (the machine's spec, records, log): Linux gets its hash.
    assert not [p for p in desktopvm_home.rglob("*")
                if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    try:
        cli("start", name, "--headless")
        reader = SerialReader(QemuBackend(load_settings()), data["id"])
        try:
            reader.wait_for(PROMPT, poke=True)
            seen = _read_seed(reader)
            assert "SEED-FILE /mnt/meta-data" in seen and "SEED-FILE /mnt/user-data" in seen
            user_data = seen[seen.index("#cloud-config"):seen.index("SEED-READ-42")]
            identity = read_yaml(user_data.rsplit("\n", 2)[0])["autoinstall"]["identity"]
            assert (identity["username"], identity["realname"], identity["hostname"]) == (
                "ann", "Ann O'Neil", "seedbox")
            assert identity["password"].startswith("$6$") and PASSWORD not in seen
            # The installer's last step: the guest powers the machine off itself. (Reading on
            # until QEMU closes the console: a client that hangs up first loses the line.)
            reader.sock.sendall(b"poweroff -f\n")
            with pytest.raises(ConnectionError):
                reader.wait_for(b"never printed", timeout=120)
        finally:
            reader.close()
        _wait_off(data["id"])
        listed = cli("list")
        assert f"took the seed disc out of {name}" in listed.stderr
        assert not seed.exists() and not list(seed.parent.glob("*.json"))
        spec = json.loads(cli("show", name, "--json").stdout)["spec"]
        assert [d["iso"] for c in spec["storage"] for d in c["optical"]] == [str(generic_iso)]
        # The second boot sees one CD drive only.
        cli("start", name, "--headless")
        reader = SerialReader(QemuBackend(load_settings()), data["id"])
        try:
            reader.wait_for(PROMPT, poke=True)
            reader.load_driver("sr_mod")
            out = reader.run("ls /dev/sr*; echo CDS-$((1+1))", b"CDS-2").decode()
            assert "/dev/sr0" in out and "/dev/sr1" not in out
        finally:
            reader.close()
    finally:
        cli("poweroff", name, check=False)
        cli("delete", name, "--delete-disks", "--yes", check=False)


def _qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_cloud_image_converted_grown_and_seeded(tmp_path: Path):
    image = tmp_path / "tiny-cloud.img"
    _qemu_img("create", "-f", "raw", str(image), "32M")  # raw: converted with -f raw
    key = tmp_path / "id_ed25519.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtest ann@laptop\n")
    created = cli("create", "--backend", "qemu", "--name", "cloudy", "--os", "ubuntu24.04",
                  "--cloud-image", str(image), "--disk", "96M", "--user", "ann", "--ssh-key",
                  str(key), "--packages", "htop,curl", "--hostname", "cloudy-1", "--network",
                  "none", "--json")
    data = json.loads(created.stdout)
    try:
        [disk] = [d for c in data["spec"]["storage"] for d in c["disks"]]
        assert disk["format"] == "qcow2" and ".seeds" in disk["path"]
        info = json.loads(subprocess.run(
            ["qemu-img", "info", "-f", "qcow2", "--output=json", disk["path"]],
            check=True, capture_output=True, text=True).stdout)
        assert (info["format"], info["virtual-size"]) == ("qcow2", 96 * 1024**2)
        assert data["spec"]["boot_order"] == ["disk"]
        [seed] = [d["iso"] for c in data["spec"]["storage"] for d in c["optical"] if d["iso"]]
        iso = pycdlib.PyCdlib()
        iso.open(seed)
        assert iso.pvd.volume_identifier.rstrip(b" ") == b"cidata"
        files = {}
        for name in ("user-data", "meta-data"):
            out = __import__("io").BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            files[name] = read_yaml(out.getvalue().decode())
        iso.close()
        assert files["meta-data"]["local-hostname"] == "cloudy-1"
        assert files["meta-data"]["instance-id"].startswith("desktopvm-")
        [user] = files["user-data"]["users"]
        assert user["ssh_authorized_keys"] == [key.read_text().strip()]
        assert user["lock_passwd"] is True  # no password given: the key is the way in
        assert files["user-data"]["packages"] == ["htop", "curl"]
        assert image.stat().st_size == 32 * 1024**2  # the original is untouched
    finally:
        cli("delete", "cloudy", "--delete-disks", "--yes", check=False)


def test_hostile_cloud_image_is_refused_and_nothing_is_made(tmp_path: Path):
    secret = tmp_path / "host-secret.raw"
    secret.write_bytes(b"not yours" * 1000)
    image = tmp_path / "cloud.qcow2"
    _qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(secret), str(image), "16M")
    result = cli("create", "--backend", "qemu", "--name", "evil", "--os", "ubuntu24.04",
                 "--cloud-image", str(image), "--user", "ann", "--password-stdin",
                 "--network", "none", stdin="pw\n", check=False)
    assert result.returncode == 2
    assert "the cloud image is refused" in result.stderr and "backing file" in result.stderr
    assert json.loads(cli("list", "--json").stdout)["machines"] == []
    folder = seeds.seed_folder(load_settings())
    assert not folder.exists() or list(folder.iterdir()) == []
