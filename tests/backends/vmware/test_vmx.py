"""The .vmx document: byte-identical round trips on every real file, edits touch only their line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.vmware import vmx
from backends.vmware.vmx import VmxDocument, VmxError, escape, unescape
from desktopvm.protocol import InvalidState

REAL_FILES = ("vmware_*.vmx", "vmware_*.vmsd", "vmware_*.vmls",
              "vmware_ws17_linux_etc_vmware_config.txt")


def real_files(shared: Path) -> list[Path]:
    found = sorted({p for pattern in REAL_FILES for p in shared.glob(pattern)})
    assert len(found) >= 14, "the VMware fixtures are incomplete"
    return found


def test_every_real_file_round_trips_byte_for_byte(shared_fixtures: Path):
    for path in real_files(shared_fixtures):
        data = path.read_bytes()
        assert VmxDocument(data).to_bytes() == data, path.name


def test_a_change_touches_only_its_line_in_every_real_file(shared_fixtures: Path):
    for path in real_files(shared_fixtures):
        data = path.read_bytes()
        document = VmxDocument(data)
        keys = document.all_keys()
        if not keys:
            continue
        key = keys[len(keys) // 2]
        assert document.set(key, document.get(key) + "-changed")
        before, after = data.decode().splitlines(), document.to_bytes().decode().splitlines()
        assert len(before) == len(after)
        differing = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        assert len(differing) == len(document._find(key)) >= 1, path.name
        assert all(after[i].lower().startswith(key) for i in differing)


def test_case_insensitive_keys_keep_their_spelling(shared_fixtures: Path):
    path = shared_fixtures / "vmware_libvirt_case_insensitive_keys.vmx"
    document = VmxDocument.read(path)
    assert document.get("memsize") == "1024"
    assert document.get("scsi0:0.fileName") == "FEDORA11.VMDK"
    document.set("memSize", "2048")
    assert 'MEMSIZE = "2048"' in document.to_bytes().decode()


def test_pipe_escapes_decode_as_libvirt_expects(shared_fixtures: Path):
    document = VmxDocument.read(shared_fixtures / "vmware_libvirt_annotation_pipe_hex_escapes.vmx")
    # libvirt tests/vmx2xmldata/annotation.xml: the expected decoding of the same file
    assert document.get("annotation") == \
        'Some |text| to test the "escaping": ||""||"| Escaped!'


def test_inventory_display_names_are_unescaped(shared_fixtures: Path):
    document = VmxDocument.read(
        shared_fixtures / "vmware_unresolved_fusion_vminventory_anonymised.vmls")
    assert document.get("vmlist1.DisplayName") == '"win10_scratch"'


def test_an_escaped_value_written_reads_back():
    document = VmxDocument(b'.encoding = "UTF-8"\n')
    text = 'a "quoted" | pipe\nand a new line — ünïcode'
    document.set("annotation", text)
    again = VmxDocument(document.to_bytes())
    assert again.get("annotation") == text
    assert b"|22quoted|22" in document.to_bytes() and b"|0A" in document.to_bytes()


def test_other_charsets_and_a_shebang():
    data = ('#!/usr/bin/vmware\n.encoding = "windows-1251"\ndisplayName = "Машина"\n'
            ).encode("cp1251")
    document = VmxDocument(data)
    assert document.get("displayName") == "Машина"
    assert document.to_bytes() == data
    document.set("memsize", "512")
    assert document.to_bytes().startswith(data)
    with pytest.raises(VmxError):
        VmxDocument(b'.encoding = "no-such-charset"\n')


def test_undecodable_bytes_survive_a_round_trip():
    data = b'.encoding = "UTF-8"\r\nodd = "\xff\xfe"\r\nbare = 1\r\n# comment\r\n'
    document = VmxDocument(data)
    assert document.to_bytes() == data
    assert document.raw("bare") == "1"
    document.set("new.key", "x")
    assert document.to_bytes() == data + b'new.key = "x"\r\n'


def test_a_bare_value_stays_bare():
    document = VmxDocument(b"scsi0:0.virtualSSD = 1\n")
    document.set("scsi0:0.virtualSSD", "0")
    assert document.to_bytes() == b"scsi0:0.virtualSSD = 0\n"
    document.set("scsi0:0.virtualSSD", "two words")
    assert document.get("scsi0:0.virtualSSD") == "two words"


def test_an_unchanged_value_is_not_rewritten():
    data = b'numvcpus="2"\n'
    document = VmxDocument(data)
    assert not document.set("NUMVCPUS", "2")
    assert document.to_bytes() == data


def test_writing_is_refused_while_vmware_holds_the_lock(tmp_path: Path):
    path = tmp_path / "m.vmx"
    path.write_bytes(b'memsize = "512"\n')
    (tmp_path / "m.vmx.lck").mkdir()
    with pytest.raises(InvalidState, match="VMware has it open"):
        vmx.update(path, {"memsize": "1024"})
    assert path.read_bytes() == b'memsize = "512"\n'
    (tmp_path / "m.vmx.lck").rmdir()
    assert vmx.update(path, {"memsize": "1024", "gone": None})
    assert path.read_bytes() == b'memsize = "1024"\n'


# -- generated documents ---------------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}(\.[A-Za-z0-9_:]{1,6}){0,2}", fullmatch=True)
values = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
endings = st.sampled_from(["\n", "\r\n"])


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    ending = draw(endings)
    lines = []
    if draw(st.booleans()):
        lines.append("#!/usr/bin/vmware")
    lines.append('.encoding = "UTF-8"')
    for key, value in draw(st.lists(st.tuples(keys, values), max_size=12)):
        spacing = draw(st.sampled_from([" = ", "=", "  =  ", "\t=\t"]))
        lines.append(f'{key}{spacing}"{escape(value)}"')
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from(["", "# a comment", "   "])))
    last = "" if draw(st.booleans()) else ending
    return (ending.join(lines) + last).encode("utf-8")


def split(data: bytes) -> list[str]:
    """Lines as VMware sees them: only a line feed ends one (not U+0085 or U+2028)."""
    return [line.rstrip("\r") for line in data.decode().rstrip("\r\n").split("\n")]


@settings(max_examples=150, deadline=None)
@given(documents())
def test_generated_documents_round_trip(data: bytes):
    assert VmxDocument(data).to_bytes() == data


@settings(max_examples=150, deadline=None)
@given(documents(), keys, values)
def test_a_generated_change_touches_only_its_lines(data: bytes, key: str, value: str):
    document = VmxDocument(data)
    existed = key in document
    document.set(key, value)
    before, after = split(data), split(document.to_bytes())
    assert VmxDocument(document.to_bytes()).get(key) == value
    if existed:
        assert len(before) == len(after)
        assert all(a == b or a.lower().lstrip().startswith(key.lower())
                   for a, b in zip(before, after, strict=True))
    else:
        newline = b"\r\n" if b"\r\n" in data else b"\n"
        kept = data if data.endswith(b"\n") else data + newline
        written = document.to_bytes()
        assert written.startswith(kept)
        assert written[len(kept):].count(b"\n") == 1, "more than one new line"


@given(values)
def test_escape_then_unescape_is_the_identity(value: str):
    assert unescape(escape(value)) == value
