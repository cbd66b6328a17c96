"""Files to and from a remote Hyper-V host: pywinrm's real code, NTLM with message encryption,
against the loopback WS-Man server, which keeps WinRM's envelope limit (MS-WSMV 2.2.4.10), and
the PowerShell double, which keeps the rules of the .NET calls the scripts make
(desktopvm/testing/doubles/hyperv/fake_hyperv_files.py). What only a real host proves (the
scripts' .NET calls, Get-FileHash, the speed) is in docs/hyperv.md.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from backends.hyperv import host_files
from backends.hyperv.backend import HyperVBackend
from desktopvm.protocol import (
    CancelToken,
    CommandFailed,
    ConnectionLost,
    InvalidState,
    OperationCancelled,
    no_progress,
)
from desktopvm.protocol.host_files import HostFileCopying
from desktopvm.testing.doubles.hyperv.double import FakeHost
from desktopvm.testing.doubles.hyperv.winrm_server import MAX_ENVELOPE, WinRMTestServer

PIECE = host_files.PIECE


def disk_like(path: Path, size: int) -> bytes:
    """Random stretches between empty ones, as a disk image has, across piece boundaries."""
    data = bytearray(size)
    for start in range(0, size, 3 * PIECE // 2):
        data[start:start + 100_000] = os.urandom(min(100_000, size - start))
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_file_goes_there_and_back_in_pieces_that_fit_winrm(remote_hyperv: HyperVBackend,
                                                            winrm_server: WinRMTestServer,
                                                            fake_host: FakeHost,
                                                            tmp_path: Path):
    assert isinstance(remote_hyperv, HostFileCopying)
    source = tmp_path / "disk.vhdx"
    data = disk_like(source, 2 * PIECE + 12345)
    reports: list[float | None] = []

    folder = remote_hyperv.make_host_folder("restored ‘web’ $(x)")
    copy = remote_hyperv.put_host_file(source, folder, "disk1.vhdx", cancel=CancelToken(),
                                       progress=lambda fraction, _stage: reports.append(fraction))

    root = Path(fake_host.state()["host"]["VirtualHardDiskPath"])
    assert Path(folder).parent == root and Path(copy) == Path(folder) / "disk1.vhdx"
    assert Path(copy).read_bytes() == data  # the fake host's files are this computer's
    assert [e["op"] for e in fake_host.log()].count("write_file") == 3
    assert reports[-1] == 1.0 and reports == sorted(r or 0.0 for r in reports)

    back = tmp_path / "back.vhdx"
    remote_hyperv.get_host_file(copy, back, progress=no_progress, cancel=CancelToken())
    assert back.read_bytes() == data
    assert [e["op"] for e in fake_host.log()].count("read_file") == 3
    # Each piece crossed in several WS-Man messages, none beyond the envelope limit.
    assert 64 * 1024 < winrm_server.largest_request <= MAX_ENVELOPE

    remote_hyperv.remove_host_folder(folder)
    assert not Path(folder).exists()


def test_empty_stretches_cross_compressed(remote_hyperv: HyperVBackend,
                                          winrm_server: WinRMTestServer, tmp_path: Path):
    source = tmp_path / "empty.vhdx"
    source.write_bytes(bytes(4 * PIECE))
    folder = remote_hyperv.make_host_folder("empty")
    before = winrm_server.requests
    copy = remote_hyperv.put_host_file(source, folder, source.name, progress=no_progress,
                                       cancel=CancelToken())
    assert Path(copy).read_bytes() == bytes(4 * PIECE)
    # Four pieces and a digest check, each one Send and a Receive or two: 2 MiB of zeros
    # as text would have taken 22 Sends of 96 KiB.
    assert winrm_server.requests - before < 16


def test_nothing_is_overwritten_and_only_its_own_folders_are_touched(remote_hyperv: HyperVBackend,
                                                                     fake_host: FakeHost,
                                                                     tmp_path: Path):
    source = tmp_path / "a.vhdx"
    source.write_bytes(b"first")
    folder = remote_hyperv.make_host_folder("own")
    copy = remote_hyperv.put_host_file(source, folder, "a.vhdx", progress=no_progress,
                                       cancel=CancelToken())
    source.write_bytes(b"second, longer")
    with pytest.raises(InvalidState, match="already copied"):
        remote_hyperv.put_host_file(source, folder, "a.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    assert Path(copy).read_bytes() == b"first"
    planted = Path(folder) / "b.vhdx"  # somebody else's file, in DesktopVM's folder
    planted.write_bytes(b"not yours")
    with pytest.raises(CommandFailed, match="already exists"):  # FileMode.CreateNew
        remote_hyperv.put_host_file(source, folder, "b.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    assert planted.read_bytes() == b"not yours"  # neither overwritten nor removed

    foreign = fake_host.folder / "someone else"
    foreign.mkdir()
    (foreign / "theirs.txt").write_bytes(b"private")
    sent = len(fake_host.log())
    with pytest.raises(InvalidState, match="did not make"):
        remote_hyperv.get_host_file(str(foreign / "theirs.txt"), tmp_path / "x",
                                    progress=no_progress, cancel=CancelToken())
    with pytest.raises(InvalidState, match="did not make"):
        remote_hyperv.put_host_file(source, str(foreign), "b.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    with pytest.raises(InvalidState, match="did not make"):
        remote_hyperv.remove_host_folder(str(foreign))
    with pytest.raises(InvalidState, match="not a plain file name"):
        remote_hyperv.put_host_file(source, folder, "../escape.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    assert len(fake_host.log()) == sent and (foreign / "theirs.txt").read_bytes() == b"private"

    mine = tmp_path / "mine.txt"
    mine.write_bytes(b"keep me")
    with pytest.raises(InvalidState, match="exists already"):
        remote_hyperv.get_host_file(copy, mine, progress=no_progress, cancel=CancelToken())
    assert mine.read_bytes() == b"keep me"


def test_a_piece_damaged_on_the_way_is_caught_by_the_digest_and_removed(
        remote_hyperv: HyperVBackend, fake_host: FakeHost, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch):
    source = tmp_path / "disk.vhdx"
    disk_like(source, 2 * PIECE)
    pieces: list[int] = []
    compress = gzip.compress

    def damaging(data: bytes, level: int = 9) -> bytes:
        pieces.append(len(data))
        if len(pieces) == 2:  # one flipped byte in the second piece
            data = data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]
        return compress(data, level)

    monkeypatch.setattr(gzip, "compress", damaging)  # the module host_files calls
    folder = remote_hyperv.make_host_folder("damaged")
    with pytest.raises(CommandFailed, match="SHA-256 differs"):
        remote_hyperv.put_host_file(source, folder, "disk.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    assert list(Path(folder).iterdir()) == []  # no partial copy left there


def test_a_cancelled_copy_leaves_no_partial_file_on_either_side(remote_hyperv: HyperVBackend,
                                                                tmp_path: Path):
    source = tmp_path / "disk.vhdx"
    disk_like(source, 3 * PIECE)
    folder = remote_hyperv.make_host_folder("cancelled")
    cancel = CancelToken()
    with pytest.raises(OperationCancelled):
        remote_hyperv.put_host_file(source, folder, "disk.vhdx", cancel=cancel,
                                    progress=lambda fraction, _stage: cancel.cancel())
    assert list(Path(folder).iterdir()) == []

    copy = remote_hyperv.put_host_file(source, folder, "disk.vhdx", progress=no_progress,
                                       cancel=CancelToken())
    cancel = CancelToken()
    back = tmp_path / "back.vhdx"
    with pytest.raises(OperationCancelled):
        remote_hyperv.get_host_file(copy, back, cancel=cancel,
                                    progress=lambda fraction, _stage: cancel.cancel())
    assert not back.exists()


def test_a_lost_reply_is_read_again_but_a_write_fails_and_cleans_up(
        remote_hyperv: HyperVBackend, winrm_server: WinRMTestServer, tmp_path: Path):
    source = tmp_path / "disk.vhdx"
    data = disk_like(source, 2 * PIECE)
    folder = remote_hyperv.make_host_folder("lossy")
    copy = remote_hyperv.put_host_file(source, folder, "disk.vhdx", progress=no_progress,
                                       cancel=CancelToken())

    back = tmp_path / "back.vhdx"
    winrm_server.lose_next_send_reply()  # a read is harmless to repeat: asked again
    remote_hyperv.get_host_file(copy, back, progress=no_progress, cancel=CancelToken())
    assert back.read_bytes() == data

    small = tmp_path / "small.vhdx"
    small.write_bytes(b"one piece, one Send")
    winrm_server.lose_next_send_reply()  # the whole write arrived: it may have run
    with pytest.raises(ConnectionLost, match="whether it ran is unknown"):
        remote_hyperv.put_host_file(small, folder, "small.vhdx", progress=no_progress,
                                    cancel=CancelToken())
    assert sorted(p.name for p in Path(folder).iterdir()) == ["disk.vhdx"]  # no partial file


def test_a_request_cut_off_before_its_last_send_is_sent_again_whole(
        remote_hyperv: HyperVBackend, winrm_server: WinRMTestServer, fake_host: FakeHost,
        tmp_path: Path):
    source = tmp_path / "random.vhdx"
    source.write_bytes(os.urandom(PIECE))  # one request line of ~700 KB: eight Sends
    folder = remote_hyperv.make_host_folder("resent")
    winrm_server.lose_next_send_reply()  # the first Send's reply: PowerShell has no full line
    copy = remote_hyperv.put_host_file(source, folder, "random.vhdx", progress=no_progress,
                                       cancel=CancelToken())
    assert Path(copy).read_bytes() == source.read_bytes()
    assert [e["op"] for e in fake_host.log()].count("write_file") == 1  # it ran once
