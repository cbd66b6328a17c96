"""Fuzzing the disc reader: mutated real discs give a one-line error or facts, never a crash,
a hang or a read outside the file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktopvm.media.detect import detect_os
from desktopvm.media.facts import MediaFacts, inspect_handle
from desktopvm.media.iso import IsoError
from desktopvm.testing.doubles.media import isos

_HEAD = 96 * 1024  # the descriptors, the boot catalog and the directories xorriso writes first


class RecordingFile(io.BytesIO):
    """A file that remembers every read, to prove none leaves the image."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, size: int | None = -1, /) -> bytes:
        start = self.tell()
        self.reads.append((start, len(self.getbuffer()) - start if size is None or size < 0
                           else size))
        return super().read(size)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("discs")
    return {
        "hybrid": isos.make_iso(folder / "u.iso", isos.UBUNTU_2204, {
            ".disk/info": isos.UBUNTU_2204_INFO.encode(), "EFI/BOOT/BOOTX64.EFI": b"MZ",
        }, bios=True, efi=True, efi_loaders=("BOOTX64.EFI",)).read_bytes(),
        "bios": isos.make_iso(folder / "d.iso", isos.DEBIAN_11, {"a": b"a"},
                              bios=True).read_bytes(),
        "udf": isos.udf_iso(folder / "w.iso", "CCCOMA_X64FRE_EN-US_DV9", "MICROSOFT CORPORATION",
                            {"sources/install.wim": b"MSWIM", "efi/boot/bootx64.efi": b"MZ",
                             "sources/idwbinfo.txt": isos.WIN11_IDWBINFO.encode()}).read_bytes(),
    }


def check(data: bytes) -> None:
    file = RecordingFile(data)
    try:
        facts = inspect_handle(file, len(data), "fuzzed")
    except IsoError as refused:
        assert "\n" not in str(refused) and str(refused)
        udf = False
    else:
        assert isinstance(facts, MediaFacts)
        detect_os(facts)  # whatever ids a disc carries, matching them never fails
        udf = facts.udf
    if not udf:  # pycdlib reads the UDF side by its own rules; ours stay inside the file
        assert all(start >= 0 and start + length <= len(data) for start, length in file.reads)
    assert len(file.reads) < 5_000  # bounded work: no loop follows a forged count


def structure_sectors(data: bytes) -> list[int]:
    """The sectors that hold what the reader parses: descriptors, catalog, directories."""
    file = RecordingFile(data)
    inspect_handle(file, len(data), "seed")
    return sorted({start // 2048 for start, _ in file.reads if start < len(data)})


def mutations(data: bytes) -> st.SearchStrategy[list[tuple[int, int]]]:
    sectors = structure_sectors(data)
    offsets = st.builds(lambda sector, at: sector * 2048 + at, st.sampled_from(sectors),
                        st.integers(0, 2047))
    return st.lists(st.tuples(offsets, st.integers(0, 255)), min_size=1, max_size=24)


@pytest.mark.parametrize("seed", ["hybrid", "bios", "udf"])
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=st.data(), cut=st.integers(0, 4 * _HEAD))
def test_mutated_discs(seeds: dict[str, bytes], seed: str, draw: st.DataObject, cut: int):
    data = bytearray(seeds[seed])
    for offset, value in draw.draw(mutations(seeds[seed])):
        data[offset % len(data)] = value
    check(bytes(data))
    check(bytes(data[:cut]))  # and the same, cut short anywhere


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40 * 1024))
def test_random_bytes(data: bytes):
    check(data)


def test_a_directory_pointing_at_itself_is_read_once_per_lookup(tmp_path: Path):
    """A hostile disc whose EFI folder's record points back at the root: the look-up walks
    the known path's parts only, so it ends."""
    disc = isos.make_iso(tmp_path / "loop.iso", isos.DEBIAN_11, {"EFI/BOOT/x": b"x"}, bios=True)
    data = bytearray(disc.read_bytes())
    root_lba = int.from_bytes(data[16 * 2048 + 158:16 * 2048 + 162], "little")
    at = data.find(b"EFI", root_lba * 2048, (root_lba + 1) * 2048)
    assert at > 0
    data[at - 33 + 2:at - 33 + 6] = root_lba.to_bytes(4, "little")  # EFI → the root itself
    check(bytes(data))


@pytest.mark.parametrize("length", [1, 20, 33, 255])
def test_forged_record_lengths_in_every_directory(seeds: dict[str, bytes], length: int):
    """Each directory record's length byte forged in turn: short records (that would index
    past their end) and long ones (past the directory) end the listing, never crash it."""
    data = seeds["hybrid"]
    for sector in structure_sectors(data)[3:]:
        start = sector * 2048
        offset = start
        while offset < start + 2048 and data[offset]:
            forged = bytearray(data)
            forged[offset] = length
            check(bytes(forged))
            offset += data[offset]
