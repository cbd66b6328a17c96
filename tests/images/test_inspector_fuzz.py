"""Fuzzing the header inspector: mutated real headers never crash it, hang it or read outside."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopvm.images import ImageFacts, UnsafeImage, inspect_image
from tests.images import hostile
from tests.images.hostile import qemu_img

SEEDS = {  # qemu-img create arguments; hand-made hostile ones are added below
    "qcow2": ["-f", "qcow2"],
    "qcow2-v2": ["-f", "qcow2", "-o", "compat=0.10"],
    "vmdk": ["-f", "vmdk"],
    "vmdk-stream": ["-f", "vmdk", "-o", "subformat=streamOptimized"],
    "vhd": ["-f", "vpc"],
    "vhdx": ["-f", "vhdx"],
    "vdi": ["-f", "vdi"],
}
_HEAD = 320 * 1024  # past the VHDX region tables and metadata that qemu-img writes


class RecordingFile(io.BytesIO):
    """A file that remembers every read, to prove none leaves the image."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, size: int | None = -1, /) -> bytes:
        start = self.tell()
        wanted = self.size - start if size is None or size < 0 else size
        self.reads.append((start, wanted))  # what was asked for, not what was there
        return super().read(size)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    images = {}
    for name, args in SEEDS.items():
        path = folder / name
        qemu_img("create", "-q", *args, str(path), "64M")
        images[name] = path.read_bytes()[:_HEAD]
    host = hostile.canary(folder / "host")
    images["qcow2-backing"] = hostile.qcow2_backing(folder / "b.qcow2", str(host)).read_bytes()
    images["vmdk-descriptor"] = hostile.vmdk_descriptor(folder / "d.vmdk",
                                                        str(host)).read_bytes()
    images["vmdk-zero"] = hostile.vmdk_sparse_zero_capacity(folder / "z.vmdk",
                                                            str(host)).read_bytes()[:_HEAD]
    return images


def check(data: bytes) -> None:
    file = RecordingFile(data)
    try:
        facts = inspect_image(file, size=len(data), name="fuzzed")
    except UnsafeImage as refused:
        assert "\n" not in str(refused)
    else:
        assert isinstance(facts, ImageFacts)
        assert facts.virtual_size >= 0
    assert all(start >= 0 and start + length <= len(data) for start, length in file.reads)
    assert len(file.reads) < 20_000  # bounded work: no loop follows a forged count


mutations = st.lists(st.tuples(st.integers(0, _HEAD - 1), st.integers(0, 255)),
                     min_size=1, max_size=24)


@pytest.mark.parametrize("seed", [*SEEDS, "qcow2-backing", "vmdk-descriptor", "vmdk-zero"])
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=mutations, cut=st.integers(0, _HEAD))
def test_mutated_headers(seeds: dict[str, bytes], seed: str,
                         changes: list[tuple[int, int]], cut: int):
    data = bytearray(seeds[seed])
    for offset, value in changes:
        data[offset % len(data)] = value
    check(bytes(data))
    check(bytes(data[:cut]))  # and the same, cut short anywhere


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes):
    check(data)


def test_a_recording_file_sees_reads_past_the_end():
    """The fuzz check itself can fail: a read past the end is recorded as asked."""
    file = RecordingFile(b"abc")
    file.seek(2)
    file.read(10)
    assert file.reads == [(2, 10)]
