"""The `.vmx` (and `.vmsd`, `inventory.vmls`, preferences) file as a lossless document.

The format (research/vmware.md §A.7 and §A.3, read in libvirt's `tests/vmx2xmldata`, Packer's
`ParseVMX`/`EncodeVMX`, GNS3's `parse_vmware_file`, xen-orchestra's `parsers/vmx.mjs`):

- one `key = "value"` per line; keys are case-insensitive (libvirt's `case-insensitive-1.vmx`
  is all upper case), values are quoted, except a few Workstation writes bare (Packer must
  write `scsi0:0.virtualSSD = 1`);
- `|XX` is the byte 0xXX inside a value (`|22` is `"`, `|0A` a new line, `|7C` `|`);
- `.encoding = "…"` names the charset (UTF-8, windows-1251, GBK, …); a Linux file may start
  with a `#!/usr/bin/vmware` shebang (GNS3 writes one and skips it when reading).

Nothing is normalised: every line that was not changed is written back byte for byte, in its
order and case, with its own line ending. A changed key keeps its line (and the case the file
spelled it in); a new key goes at the end. Writing is atomic (a temporary file in the same
folder, then a rename) and refused while the VM's lock folder (`*.lck`) exists: Workstation
rewrites the file of a machine it has open, so an edit then would be lost or torn.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from desktopvm.paths import atomic_write_bytes
from desktopvm.protocol import InvalidState

# A key, its " = ", and the value (quoted or bare); everything around it is kept verbatim.
_ENTRY = re.compile(r'^([ \t]*)([^\s=#][^=]*?)([ \t]*=[ \t]*)(".*"|[^"]*?)([ \t]*)$')
_ESCAPE_RUN = re.compile(r"(?:\|[0-9A-Fa-f]{2})+")
_ENCODING = re.compile(rb'^[ \t]*\.encoding[ \t]*=[ \t]*"([^"]*)"', re.IGNORECASE | re.MULTILINE)
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
DEFAULT_ENCODING = "utf-8"
MAX_FILE = 4 * 1024 * 1024  # a .vmx is a few KiB; a larger one is not a VMware file


class VmxError(ValueError):
    """A file that is not a VMware key/value document (or names a charset we do not have)."""


@dataclass
class _Line:
    """One line: its text without the line ending, the ending, and the entry if it is one."""

    text: str
    ending: str
    key: str = ""  # as the file spells it; "" for blank lines, comments and the shebang

    @property
    def lower(self) -> str:
        return self.key.lower()


def _python_codec(name: str) -> str:
    """The Python codec for a `.encoding` value (windows-1251 -> cp1251, GBK -> gbk)."""
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        raise VmxError(f"the file says its characters are in {name!r}, which this computer "
                       "cannot read") from None


def unescape(value: str, encoding: str = DEFAULT_ENCODING) -> str:
    """`|XX` escapes to the characters they stand for (a run of them is one byte string)."""
    def bytes_of(match: re.Match[str]) -> str:
        raw = bytes(int(match.group(0)[i + 1:i + 3], 16) for i in range(0, len(match.group(0)), 3))
        return raw.decode(encoding, "replace")

    return _ESCAPE_RUN.sub(bytes_of, value)


def escape(value: str) -> str:
    """The text of a quoted value: `"`, `|` and control characters as `|XX`."""
    out = []
    for char in value:
        if char in '"|' or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"|{ord(char):02X}")
        else:
            out.append(char)
    return "".join(out)


class VmxDocument:
    """A VMware key/value file, kept line for line so that an unchanged write is identical."""

    def __init__(self, data: bytes = b"") -> None:
        if len(data) > MAX_FILE:
            raise VmxError("the file is too large to be a VMware configuration file")
        found = _ENCODING.search(data[:4096])
        self.encoding = _python_codec(found.group(1).decode("ascii", "replace")) if found \
            else DEFAULT_ENCODING
        # surrogateescape: bytes the charset cannot decode come back out unchanged.
        text = data.decode(self.encoding, "surrogateescape")
        self._lines: list[_Line] = []
        # Only \n ends a line (str.splitlines would also split at U+0085, U+2028, … inside
        # a value); the \r of a CRLF file stays with its line's ending.
        for raw in _LINE.findall(text):
            body = raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith("\n") else raw
            self._lines.append(self._parse(body, raw[len(body):]))
        self.newline = "\r\n" if b"\r\n" in data else "\n"

    @staticmethod
    def _parse(body: str, ending: str) -> _Line:
        if body.lstrip().startswith("#"):  # a comment or the shebang: kept, never an entry
            return _Line(body, ending)
        match = _ENTRY.match(body)
        if not match:
            return _Line(body, ending)
        return _Line(body, ending, match.group(2))

    @classmethod
    def read(cls, path: Path) -> VmxDocument:
        """The document in `path` (VmxError if it cannot be one)."""
        return cls(path.read_bytes())

    # -- reading ------------------------------------------------------------------------------
    def _find(self, key: str) -> list[int]:
        lower = key.lower()
        return [i for i, line in enumerate(self._lines) if line.key and line.lower == lower]

    def raw(self, key: str) -> str | None:
        """The value as written (quotes removed, escapes kept); the last one if repeated."""
        found = self._find(key)
        if not found:
            return None
        match = _ENTRY.match(self._lines[found[-1]].text)
        assert match is not None
        value = match.group(4)
        return value[1:-1] if value.startswith('"') and value.endswith('"') and len(value) > 1 \
            else value

    def get(self, key: str, default: str = "") -> str:
        """The value with its `|XX` escapes decoded, or `default`."""
        value = self.raw(key)
        return default if value is None else unescape(value, self.encoding)

    def flag(self, key: str, default: bool = False) -> bool:
        """A TRUE/FALSE value (any case; "yes"/"1" count as true too)."""
        value = self.raw(key)
        return default if value is None else value.strip().lower() in ("true", "yes", "1")

    def number(self, key: str, default: int = 0) -> int:
        """An integer value, or `default` when absent or not a number."""
        try:
            return int(self.get(key, str(default)).strip())
        except ValueError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self._find(key))

    def all_keys(self) -> list[str]:
        """Every key once, lower case, in file order."""
        return list(dict.fromkeys(line.lower for line in self._lines if line.key))

    def items(self) -> Iterator[tuple[str, str]]:
        """(lower-case key, decoded value) for every key once (the last value when repeated)."""
        for key in self.all_keys():
            yield key, self.get(key)

    def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every key starting with `prefix` (lower case), mapped to its decoded value."""
        lower = prefix.lower()
        return {key: value for key, value in self.items() if key.startswith(lower)}

    # -- changing -----------------------------------------------------------------------------
    def set(self, key: str, value: str) -> bool:
        """Set `key` (escaped and quoted); True if the document changed. An equal value
        (compared decoded) leaves the line exactly as it was."""
        if self.get(key) == value and key in self:
            return False
        found = self._find(key)
        if found:
            for index in found:  # a repeated key gets the value everywhere: no stale copy
                old = self._lines[index]
                match = _ENTRY.match(old.text)
                assert match is not None
                bare = not match.group(4).startswith('"') and re.fullmatch(r"[\w.:-]+", value)
                # a bare value stays bare: Packer must write `scsi0:0.virtualSSD = 1` unquoted
                shown = value if bare else f'"{escape(value)}"'
                text = f"{match.group(1)}{old.key}{match.group(3)}{shown}"
                self._lines[index] = _Line(text, old.ending, old.key)
            return True
        if self._lines and not self._lines[-1].ending:
            self._lines[-1].ending = self.newline
        self._lines.append(_Line(f'{key} = "{escape(value)}"', self.newline, key))
        return True

    def remove(self, key: str) -> bool:
        """Remove every line of `key`; True if there was one."""
        found = set(self._find(key))
        self._lines = [line for i, line in enumerate(self._lines) if i not in found]
        return bool(found)

    def apply(self, changes: Mapping[str, str | None]) -> bool:
        """Set each key (None removes it); True if anything changed."""
        changed = False
        for key, value in changes.items():
            changed = (self.remove(key) if value is None else self.set(key, value)) or changed
        return changed

    def to_bytes(self) -> bytes:
        """The document, byte for byte as read where nothing changed."""
        text = "".join(line.text + line.ending for line in self._lines)
        return text.encode(self.encoding, "surrogateescape")


def new_document(entries: Mapping[str, str], *, shebang: str = "") -> VmxDocument:
    """A new UTF-8 document: `.encoding` first, then `entries` in order."""
    document = VmxDocument(((shebang + "\n") if shebang else "").encode()
                           + b'.encoding = "UTF-8"\n')
    for key, value in entries.items():
        document.set(key, value)
    return document


def lock_folders(vmx: Path) -> list[Path]:
    """The `*.lck` folders next to a .vmx: Workstation holds them while it has the VM open
    (Vagrant reads the running VM's PIDs out of `*.lck/*.lck`; Packer waits for them to go
    after a stop) — research/vmware.md §A.4."""
    folder = vmx.parent
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == ".lck" and p.is_dir())
    except OSError:
        return []


def require_unlocked(vmx: Path, name: str = "") -> None:
    """InvalidState while a lock folder says VMware has the machine open."""
    locks = lock_folders(vmx)
    if locks:
        raise InvalidState(
            f"Cannot change {name or vmx.stem} while VMware has it open (lock {locks[0].name}):"
            " power it off and close its tab in VMware, then try again",
            f"lock folders: {', '.join(str(p) for p in locks)}")


def save(path: Path, document: VmxDocument, *, name: str = "") -> None:
    """Write `document` to `path` atomically, unless VMware holds the VM's lock."""
    require_unlocked(path, name)
    atomic_write_bytes(path, document.to_bytes())


def update(path: Path, changes: Mapping[str, str | None], *, name: str = "") -> bool:
    """Read `path` afresh, apply `changes`, write it back if anything changed; True if so.

    Read and write are one step, so a change someone made to other keys meanwhile stays."""
    require_unlocked(path, name)
    document = VmxDocument.read(path)
    if not document.apply(changes):
        return False
    save(path, document, name=name)
    return True
