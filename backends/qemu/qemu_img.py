"""The QEMU backend's one door to `qemu-img`: create, inspect, resize, convert, snapshot disks."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from backends.qemu.img_args import (
    QEMU_FORMATS,
    chain_source,
    image_arg,
    qemu_format,
    untrusted_source,
)
from backends.qemu.img_partial import partial_file
from backends.qemu.img_progress import ProgressParser
from desktopvm.model.devices import DiskFormat
from desktopvm.protocol import (
    BackendError,
    BackendUnavailable,
    CancelToken,
    CommandFailed,
    DiskInfo,
    OperationCancelled,
    ProbeResult,
    Progress,
    TimedOut,
    UnsupportedOperation,
)

logger = logging.getLogger(__name__)

_FROM_QEMU: dict[str, str] = {qemu: ours.value for ours, qemu in QEMU_FORMATS.items()}

#: Formats whose images are dynamically sized unless told otherwise.
_DYNAMIC_SUBFORMAT = {DiskFormat.VHDX, DiskFormat.VHD}
#: A VHD of exactly the size asked for: without it qemu-img rounds up to a CHS geometry
#: (64 MiB becomes 67,125,248 bytes), as Virtual PC once did; Hyper-V takes the exact size.
_VHD_EXACT = {DiskFormat.VHD: ",force_size=on"}

ENV_BINARY = "DESKTOPVM_QEMU_IMG"
#: A convert may run this long (a 2 TB disk at 100 MB/s takes under 6 hours).
CONVERT_TIMEOUT = 6 * 3600.0
WINDOWS_DOWNLOAD = "https://qemu.weilnetz.de/w64/"

_VERSION = re.compile(r"qemu-img version (\S+)")
_LOCKED = '"write" lock'
_READ_CHUNK = 65536


def install_hint(platform: str = sys.platform) -> str:
    """How to install qemu-img on this kind of host."""
    if platform == "darwin":
        return "brew install qemu"
    if platform == "win32":
        return (f"Install QEMU for Windows ({WINDOWS_DOWNLOAD}) and add its folder to PATH, "
                f"or set {ENV_BINARY} to the full path of qemu-img.exe")
    return "sudo apt-get install qemu-utils"


def find_qemu_img(configured: str = "", beside: str = "") -> str:
    """The qemu-img to run: the one set in Preferences (`configured`, a path or a name on
    PATH), $DESKTOPVM_QEMU_IMG, qemu-img on PATH, the one beside the QEMU binary `beside` (a
    QEMU unpacked or built in its own folder ships both), or the usual install places PATH may
    miss. "" when none is found (a set one that does not exist is not replaced by another)."""
    if configured:
        return configured if Path(configured).is_file() else shutil.which(configured) or ""
    from_env = os.environ.get(ENV_BINARY, "")
    if from_env:
        return from_env
    found = shutil.which("qemu-img")
    if found:
        return found
    exe = "qemu-img.exe" if sys.platform == "win32" else "qemu-img"
    candidates = [str(Path(beside).parent / exe)] if beside else []
    if sys.platform == "darwin":  # apps started from Finder do not get Homebrew's PATH
        candidates += ["/opt/homebrew/bin/qemu-img", "/usr/local/bin/qemu-img",
                       "/opt/local/bin/qemu-img"]
    elif sys.platform == "win32":
        program_files = os.environ.get("PROGRAMFILES", r"C:\Program Files")
        candidates.append(str(Path(program_files) / "qemu" / "qemu-img.exe"))
    return next((c for c in candidates if Path(c).is_file()), "")


@dataclass(frozen=True, slots=True)
class _Result:
    """What a finished qemu-img run left behind."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def _first_error_line(stderr: str) -> str:
    """The first meaningful line of qemu-img's stderr, without the "qemu-img: " prefix."""
    for line in stderr.splitlines():
        text = line.strip()
        if text and not text.startswith(("WARNING:", "Warning:")):
            return text.removeprefix("qemu-img:").strip()
    return stderr.strip()


def _remove_partial(path: Path) -> None:
    """Delete a file an aborted operation left behind."""
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        logger.warning("could not remove partial file %s: %s", path, error)


class QemuImg:
    """Runs qemu-img: argument lists only, a time limit on every call, typed errors."""

    def __init__(
        self, binary: str = "", *, timeout: float = 60.0,
        convert_timeout: float = CONVERT_TIMEOUT,
    ) -> None:
        """`binary` empty means $DESKTOPVM_QEMU_IMG, else qemu-img on PATH.

        `timeout` bounds every quick call; `convert_timeout` bounds a convert, generously: a
        copy of a large disk to a slow USB drive takes hours (a CancelToken stops it sooner).
        """
        self._binary = binary or find_qemu_img()
        self.timeout = timeout
        self.convert_timeout = convert_timeout
        self._version = ""

    @property
    def binary(self) -> str:
        """The qemu-img executable used ("" if none was found)."""
        return self._binary

    # -- facts --------------------------------------------------------------------------------
    def version(self) -> str:
        """qemu-img's version, e.g. "7.2.22"."""
        if not self._version:
            result = self._run(["--version"], timeout=self.timeout)
            self._check(result, "qemu-img --version failed")
            match = _VERSION.search(result.stdout)
            if not match:
                raise CommandFailed(
                    "Could not read qemu-img's version", command=result.argv,
                    exit_code=result.returncode, stderr=result.stderr,
                    details="stdout:\n" + result.stdout)
            self._version = match.group(1)
        return self._version

    def probe(self) -> ProbeResult:
        """Whether qemu-img can be run here, its version, or why not and how to fix it."""
        try:
            version = self.version()
        except BackendUnavailable as error:
            return ProbeResult("qemu-img", False, reason=error.summary,
                               install_hint=error.install_hint)
        except (CommandFailed, TimedOut) as error:
            return ProbeResult("qemu-img", False, reason=error.summary,
                               install_hint=install_hint())
        return ProbeResult("qemu-img", True, version=version)

    def info(self, path: Path, *, force_share: bool = False,
             source_format: DiskFormat | None = None) -> DiskInfo:
        """What the image at `path` is; retries with -U (shared) if a running QEMU holds it.

        `source_format` (for disks from outside, see `convert`) gives the format instead of
        probing it; a qcow2's backing file is then named but not opened.
        """
        args = ["info", "--output=json"]
        if force_share:
            args.append("-U")
        source = [image_arg(path)] if source_format is None else untrusted_source(path,
                                                                              source_format)
        result = self._run([*args, *source], timeout=self.timeout)
        if result.returncode != 0 and not force_share and _LOCKED in result.stderr:
            logger.debug("%s is locked by another process; reading it shared", path)
            result = self._run([*args, "-U", *source], timeout=self.timeout)
        self._check(result, f"Could not read the disk image {path}", image=path)
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError as error:
            raise CommandFailed(
                f"qemu-img gave unreadable information about {path}", command=result.argv,
                exit_code=result.returncode, stderr=result.stderr,
                details=f"{error}\nstdout:\n{result.stdout}") from error
        if not isinstance(data, dict):
            raise CommandFailed(f"qemu-img gave unreadable information about {path}",
                                command=result.argv, details="stdout:\n" + result.stdout)
        backing = data.get("full-backing-filename") or data.get("backing-filename") or ""
        qemu_fmt = str(data.get("format", ""))
        return DiskInfo(
            path=str(path),
            format=_FROM_QEMU.get(qemu_fmt, qemu_fmt),
            virtual_size=int(data.get("virtual-size", 0)),
            actual_size=int(data.get("actual-size", 0)),
            backing_file=str(backing),
            details=data,
        )

    # -- creating and changing images ----------------------------------------------------------
    def create(
        self,
        path: Path,
        fmt: DiskFormat,
        size_bytes: int,
        *,
        backing_file: Path | None = None,
        backing_format: DiskFormat | None = None,
        cancel: CancelToken | None = None,
    ) -> DiskInfo:
        """Create a new (dynamically sized) image; with `backing_file` a qcow2 linked clone.

        `size_bytes` 0 with a backing file takes the backing file's size. A relative
        `backing_file` is relative to the new image's folder (and stays relative in it).
        """
        fmt = DiskFormat(fmt)
        if size_bytes < 0:
            raise ValueError(f"size_bytes must not be negative, got {size_bytes}")
        self._refuse_existing(path)
        args = ["create", "-q", "-f", qemu_format(fmt)]
        if fmt in _DYNAMIC_SUBFORMAT:
            args += ["-o", "subformat=dynamic" + _VHD_EXACT.get(fmt, "")]
        if backing_file is not None:
            if fmt is not DiskFormat.QCOW2:
                raise UnsupportedOperation("Only qcow2 disks can be linked clones",
                                           f"asked for a {fmt.value} disk on {backing_file}")
            if backing_format is None:
                base = backing_file if backing_file.is_absolute() else path.parent / backing_file
                backing_qemu_fmt = str(self.info(base).details.get("format", ""))
            else:
                backing_qemu_fmt = qemu_format(backing_format)
            args += ["-b", str(backing_file), "-F", backing_qemu_fmt]
        args.append(image_arg(path))
        if size_bytes or backing_file is None:
            args.append(str(size_bytes))
        self._create_file(path, args, timeout=self.timeout, cancel=cancel,
                          failure=f"Could not create the disk image {path}")
        return self.info(path)

    def resize(self, path: Path, size_bytes: int, *, cancel: CancelToken | None = None) -> DiskInfo:
        """Grow the image's virtual size to `size_bytes`; never shrinks.

        `cancel` is honoured before qemu-img starts, not during: killing an in-place resize
        could leave the image half-changed (and growing takes a moment anyway).
        """
        if cancel is not None:
            cancel.raise_if_cancelled()
        before = self.info(path)
        if size_bytes < before.virtual_size:
            raise CommandFailed(
                f"Cannot shrink {path} from {before.virtual_size:,} to {size_bytes:,} bytes: "
                "shrinking would destroy data",
                details="Shrink the partitions inside the guest and convert to a new, "
                        "smaller disk instead.")
        if size_bytes == before.virtual_size:
            return before
        qemu_fmt = str(before.details.get("format", ""))
        result = self._run(["resize", "-q", "-f", qemu_fmt, image_arg(path), str(size_bytes)],
                           timeout=self.timeout)
        if result.returncode != 0 and "does not support resize" in result.stderr:
            raise UnsupportedOperation(
                f"qemu-img cannot resize {before.format} disks; convert {path} to qcow2 first",
                result.stderr.strip())
        self._check(result, f"Could not resize {path}", image=path)
        return self.info(path)

    def convert(
        self,
        source: Path,
        target: Path,
        fmt: DiskFormat,
        *,
        subformat: str = "",
        compress: bool = False,
        source_format: DiskFormat | None = None,
        backing_chain: Sequence[Path] = (),
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> DiskInfo:
        """Copy `source` into a new image `target` of format `fmt`, reporting progress.

        `subformat` is qemu's (e.g. "streamOptimized" for vmdk; vhd and vhdx default to
        "dynamic"); `compress` writes compressed clusters (qcow2). A cancel or failure
        removes the partial target.

        `source_format` is for disks from outside, already checked by `desktopvm.images`:
        the format is then given, never probed, and a qcow2 is opened with its backing chain
        cut (belt and braces: the check already refused backing files). Without it the
        format is probed, which only our own disks may be. `backing_chain` (checked qcow2
        layers, newest first) is what `source`, a checked qcow2, reads through.
        """
        fmt = DiskFormat(fmt)
        self._refuse_existing(target)
        if cancel is not None:
            cancel.raise_if_cancelled()
        if backing_chain:
            source_args = chain_source([source, *backing_chain])
        elif source_format is None:
            source_fmt = str(self.info(source).details.get("format", ""))
            source_args = ["-f", source_fmt, image_arg(source)]
        else:
            source_args = untrusted_source(source, source_format)
        if not subformat and fmt in _DYNAMIC_SUBFORMAT:
            subformat = "dynamic"
        args = ["convert", "-p", "-O", qemu_format(fmt)]
        if subformat:
            args += ["-o", f"subformat={subformat}" + _VHD_EXACT.get(fmt, "")]
        if compress:
            args.append("-c")
        parser = ProgressParser(progress, "Converting") if progress is not None else None
        with partial_file(target) as partial:  # never a partial image under the final name
            self._create_file(
                partial, [*args, *source_args, image_arg(partial)], timeout=self.convert_timeout,
                cancel=cancel, failure=f"Could not convert {source} to {target}", image=source,
                on_stdout=parser.feed if parser is not None else None)
        if parser is not None:
            parser.finish()
            parser.report(1.0)
        return self.info(target)

    def compare(self, a: Path, b: Path, *, formats: tuple[DiskFormat, DiskFormat] | None = None,
                cancel: CancelToken | None = None) -> bool:
        """Whether the two images hold the same guest-visible data (sizes may differ by zeros).

        `formats` (a's, b's) are given to qemu-img rather than probed: for disks whose format
        is known, e.g. a backup set's qcow2 and the disk a hypervisor made of it. It reads both
        disks whole, so it gets a convert's time limit (and stops on `cancel`).
        """
        args = ["compare", "-q"]
        if formats is not None:
            args += ["-f", qemu_format(formats[0]), "-F", qemu_format(formats[1])]
        result = self._run([*args, image_arg(a), image_arg(b)], cancel=cancel,
                           timeout=self.timeout if formats is None else self.convert_timeout)
        if result.returncode in (0, 1):
            return result.returncode == 0
        missing = next((p for p in (a, b) if not p.exists()), None)
        self._check(result, f"Could not compare {a} with {b}", image=missing or a)
        return False  # pragma: no cover - _check raised

    # -- internal snapshots (qcow2, machine off) -------------------------------------------------
    def snapshot_list(self, path: Path) -> list[dict[str, Any]]:
        """The internal snapshots of a qcow2 image, as qemu-img describes them."""
        return self._snapshots(self._require_qcow2(path))

    def snapshot_create(self, path: Path, name: str) -> None:
        """Take an internal snapshot `name` of a qcow2 image (names must be unique)."""
        if not name:
            raise ValueError("a snapshot needs a name")
        if any(s.get("name") == name for s in self._snapshots(self._require_qcow2(path))):
            raise CommandFailed(f"{path} already has a snapshot named {name!r}")
        self._snapshot("-c", path, name, f"Could not take snapshot {name!r} of {path}")

    def snapshot_apply(self, path: Path, name: str) -> None:
        """Revert a qcow2 image to its internal snapshot `name`."""
        self._require_snapshot(path, name)
        self._snapshot("-a", path, name, f"Could not revert {path} to snapshot {name!r}")

    def snapshot_delete(self, path: Path, name: str) -> None:
        """Delete the internal snapshot `name` of a qcow2 image."""
        self._require_snapshot(path, name)
        self._snapshot("-d", path, name, f"Could not delete snapshot {name!r} of {path}")

    def repair_leaks(self, path: Path) -> None:
        """`check -r leaks`: free clusters an interrupted write left unused (best effort).

        Leaks waste space but harm no data, so a failure here is logged, never raised.
        """
        try:
            result = self._run(["check", "-q", "-r", "leaks", image_arg(path)],
                               timeout=self.timeout)
        except BackendError as error:
            logger.warning("could not check %s for leaked clusters: %s", path, error.summary)
            return
        if result.returncode not in (0, 3):  # 3: leaks were found (and repaired)
            logger.warning("qemu-img check of %s: %s", path, _first_error_line(result.stderr))

    def _require_qcow2(self, path: Path) -> DiskInfo:
        info = self.info(path)
        if info.details.get("format") != "qcow2":
            raise UnsupportedOperation("Only qcow2 disks can hold snapshots",
                                       f"{path} is a {info.format} disk")
        return info

    def _require_snapshot(self, path: Path, name: str) -> None:
        if not any(s.get("name") == name for s in self._snapshots(self._require_qcow2(path))):
            raise CommandFailed(f"{path} has no snapshot named {name!r}")

    @staticmethod
    def _snapshots(info: DiskInfo) -> list[dict[str, Any]]:
        snapshots = info.details.get("snapshots", [])
        if not isinstance(snapshots, list):
            return []
        return [dict(s) for s in snapshots if isinstance(s, dict)]

    def _snapshot(self, flag: str, path: Path, name: str, failure: str) -> None:
        result = self._run(["snapshot", "-q", flag, name, image_arg(path)], timeout=self.timeout)
        self._check(result, failure, image=path)

    # -- running ---------------------------------------------------------------------------------
    def _refuse_existing(self, path: Path) -> None:
        if os.path.lexists(path):
            raise CommandFailed(f"{path} already exists; not overwritten")

    def _create_file(
        self,
        path: Path,
        args: list[str],
        *,
        timeout: float | None,
        cancel: CancelToken | None,
        failure: str,
        image: Path | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> None:
        """Run a command that creates `path`; on any failure remove what it left."""
        try:
            result = self._run(args, timeout=timeout, cancel=cancel, on_stdout=on_stdout)
            if cancel is not None:
                cancel.raise_if_cancelled()  # finished while the cancel was on its way
            self._check(result, failure, image=image)
        except BaseException:
            _remove_partial(path)
            raise

    def _check(self, result: _Result, failure: str, *, image: Path | None = None) -> None:
        """Raise the typed error for a failed run: missing image, image in use, or other."""
        if result.returncode == 0:
            return
        if image is not None and not os.path.lexists(image):
            summary = f"No disk image at {image}"
        elif _LOCKED in result.stderr:
            where = f" {image}" if image is not None else ""
            summary = (f"The disk image{where} is in use by another program "
                       "(is its machine running?)")
        else:
            reason = _first_error_line(result.stderr)
            summary = f"{failure}: {reason}" if reason else failure
        raise CommandFailed(summary, command=result.argv, exit_code=result.returncode,
                            stderr=result.stderr)

    def _run(
        self,
        args: Sequence[str],
        *,
        timeout: float | None,
        cancel: CancelToken | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> _Result:
        """Run qemu-img with `args`; stdout chunks go to `on_stdout` (in this thread) as they come.

        Raises BackendUnavailable, TimedOut or OperationCancelled; a non-zero exit is returned.
        """
        if not self._binary:
            raise BackendUnavailable("qemu-img is not installed (not found on PATH)",
                                     f"set {ENV_BINARY} to use one elsewhere",
                                     install_hint=install_hint())
        argv = [self._binary, *args]
        if cancel is not None:
            cancel.raise_if_cancelled()
        logger.debug("running %s", shlex.join(argv))
        running = _Running(argv)
        unregister = cancel.on_cancel(running.kill) if cancel is not None else (lambda: None)
        try:
            timed_out = running.collect(timeout, on_stdout)
        finally:
            unregister()
            running.close()  # kills it first if something (e.g. on_stdout) raised
        stdout, stderr = running.text(0), running.text(1)
        logger.debug("qemu-img %s exited with %s", args[0], running.returncode)
        if timed_out:
            raise TimedOut(f"qemu-img {args[0]} did not finish within {timeout:g} s",
                           "command: " + shlex.join(argv)
                           + ("\nstderr:\n" + stderr if stderr else ""))
        if running.killed.is_set() and cancel is not None and cancel.cancelled:
            raise OperationCancelled(details="command: " + shlex.join(argv))
        return _Result(argv, running.returncode, stdout, stderr)


class _Running:
    """One qemu-img process with both pipes drained by threads into one queue."""

    def __init__(self, argv: list[str]) -> None:
        creationflags = 0
        if sys.platform == "win32":
            creationflags = subprocess.CREATE_NO_WINDOW
        command = argv
        if sys.platform.startswith("linux") and (setpriv := shutil.which("setpriv")) \
                and shutil.which(argv[0]):
            # qemu-img dies with us: a killed app leaves no conversion running for nobody.
            command = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"}, start_new_session=True,
                creationflags=creationflags)
        except FileNotFoundError as error:
            raise BackendUnavailable(f"qemu-img not found at {argv[0]}", str(error),
                                     install_hint=install_hint()) from error
        except OSError as error:
            raise BackendUnavailable(f"Cannot run qemu-img at {argv[0]}: {error}", str(error),
                                     install_hint=install_hint()) from error
        self.killed = threading.Event()
        self.returncode = -1
        self._finished = False
        self._output: tuple[list[bytes], list[bytes]] = ([], [])
        self._chunks: queue.Queue[tuple[int, bytes]] = queue.Queue()
        streams = (self.process.stdout, self.process.stderr)
        self._readers = [
            threading.Thread(target=_pump, args=(stream, index, self._chunks), daemon=True,
                             name=f"qemu-img-pipe-{index}")
            for index, stream in enumerate(streams) if stream is not None
        ]
        for reader in self._readers:
            reader.start()

    def collect(self, timeout: float | None, on_stdout: Callable[[bytes], None] | None) -> bool:
        """Gather output until both pipes close and the process exits; True if it timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        open_streams = len(self._readers)
        while open_streams:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                self.kill()
                return True
            try:
                index, chunk = self._chunks.get(timeout=wait)
            except queue.Empty:
                continue
            if not chunk:
                open_streams -= 1
                continue
            self._output[index].append(chunk)
            if index == 0 and on_stdout is not None and not self.killed.is_set():
                on_stdout(chunk)
        self._finished = True
        return False

    def kill(self) -> None:
        """Kill the process (and its process group, where there is one); safe from any thread."""
        self.killed.set()
        if self.process.returncode is not None:
            return
        try:
            if sys.platform == "win32":
                self.process.kill()
            else:
                os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Reap the process (killing it if it still runs) and release its pipes."""
        if not self._finished:
            self.kill()
        self.returncode = self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        while not self._chunks.empty():  # what arrived after collect() stopped
            index, chunk = self._chunks.get_nowait()
            self._output[index].append(chunk)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def text(self, index: int) -> str:
        """Everything read from stdout (0) or stderr (1), decoded."""
        return b"".join(self._output[index]).decode("utf-8", "replace")


def _pump(stream: IO[bytes], index: int, chunks: queue.Queue[tuple[int, bytes]]) -> None:
    """Move a pipe's bytes into `chunks` as they arrive; an empty chunk marks the end."""
    read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
    try:
        while True:
            chunk = read(_READ_CHUNK)
            if not chunk:
                break
            chunks.put((index, chunk))
    except (OSError, ValueError):  # the pipe was closed under us
        pass
    finally:
        chunks.put((index, b""))
