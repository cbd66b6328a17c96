"""Tolerant parsers for VBoxManage output: machine-readable pairs, lists, blocks, progress.

Rules that hold for every parser here: `\\r\\n` is normalised, unknown keys and stray lines are
kept aside rather than failing, and nothing raises on new output; callers get what could be
read. The machine-readable format (showvminfo/snapshot list `--machinereadable`) is
`key="value"` or `key=number`, keys quoted when they contain `=` or specials; since 6.1 values
escape `"` and `\\` with a backslash, but snapshot descriptions and older releases print raw
text, so an unescaped quote closes a value only when nothing quoted follows on its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from desktopvm.protocol import Snapshot

KEY_LINE = re.compile(r'(?:"(?P<qkey>(?:[^"\\]|\\.)*)"|(?P<key>[^"=\n][^=\n]*?))=(?P<rest>.*)')
QUOTE_OR_ESCAPE = re.compile(r'\\.|"')
QUOTE = re.compile(r'"')
# Keys VBoxManageInfo.cpp prints with a bare RTPrintf("%s=\"%ls\"") instead of the escaping
# outputMachineReadableString: their backslashes are literal (a Windows pipe `\\.\pipe\x`).
RAW_KEY = re.compile(
    r"^(?:uartmode\d+|lptmode\d+|Forwarding\(\d+\)|VMState(?:File|ChangeTime)?|"
    r"Snapshot(?:Name|UUID|Description)(?:-\d+)*|CurrentSnapshot\w+|natnet\d+|"
    r"bridgeadapter\d+|intnet\d+|hostonlyadapter\d+|generic\d+|nat-network\d+|"
    r"hostonly-network\d+|cloud-network\d+|macaddress\d+|vrde\w*)$")
ESCAPED = re.compile(r'\\(["\\])')
VM_LINE = re.compile(r'^"(?P<name>.*)" \{(?P<uuid>[0-9a-fA-F-]{36})\}\s*$')
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
PERCENT = re.compile(r"(\d{1,3})%")
SNAPSHOT_KEY = re.compile(r"^Snapshot(?P<what>Name|UUID|Description)(?P<path>(?:-\d+)*)$")
GUEST_PROPERTY_OLD = re.compile(r"^Name: (?P<name>[^,]*), value: (?P<value>.*?), timestamp: ")
GUEST_PROPERTY_NEW = re.compile(r"^(?P<name>/\S*)\s+= '(?P<value>.*)'(?:\s+@ .*)?\s*$")
ERROR_LINE = re.compile(r"^VBoxManage(?:\.exe)?: error: ?(?P<text>.*)$", re.MULTILINE)
ERROR_CODE = re.compile(r"\bcode (?P<code>[A-Z][A-Z0-9_]+) \((?P<hex>0x[0-9a-fA-F]+)\)")
SIZE_MB = re.compile(r"^(?P<number>\d+)\s*MBytes?\b")


def normalise(text: str) -> str:
    """One line ending."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_driver_warning(text: str) -> tuple[str, str]:
    """`text` without the launcher's kernel-driver WARNING block, and that block's first line.

    VirtualBox's Linux launcher script (`/usr/bin/VBoxManage`, Oracle's and Debian's) prints
    a block before every command when the driver is missing, on stdout, and the command still
    works; only starting a machine cannot. Debian 7.2 says `WARNING: The character device
    /dev/vboxdrv does not exist.`, Oracle's `WARNING: The vboxdrv kernel module is not loaded.`;
    both end with `You will not be able to start VMs until this problem is fixed.`
    """
    lines = text.splitlines(keepends=True)
    for start, line in enumerate(lines):
        if not (line.startswith("WARNING:") and "vboxdrv" in line):
            continue
        end = start + 1
        while end < len(lines) and (lines[end][:1] in (" ", "\t") or not lines[end].strip()):
            last = "You will not be able to start VMs" in lines[end]
            end += 1
            if last:
                break
        if end < len(lines) and not lines[end].strip():
            end += 1  # the blank line after the block
        return "".join(lines[:start] + lines[end:]), line.strip()
    return text, ""


def unescape(text: str) -> str:
    """Undo VBoxManage's escaping of `"` and `\\` (other backslashes are literal)."""
    return ESCAPED.sub(r"\1", text)


@dataclass
class MachineReadable:
    """Parsed `--machinereadable` output: pairs in order, plus lines that were not pairs."""

    items: list[tuple[str, str]] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    _first: dict[str, str] = field(default_factory=dict, repr=False)

    def add(self, key: str, value: str) -> None:
        """Append a pair (the first value of a repeated key wins for `get`)."""
        self.items.append((key, value))
        self._first.setdefault(key, value)

    def get(self, key: str, default: str = "") -> str:
        """The first value of `key`."""
        return self._first.get(key, default)

    def get_any(self, *keys: str) -> str:
        """The value of the first key present (for keys renamed between versions)."""
        for key in keys:
            if key in self._first:
                return self._first[key]
        return ""

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def integer(self, key: str, default: int = 0) -> int:
        """A numeric value (quoted or not); `default` when absent or not a number."""
        try:
            return int(self._first.get(key, "").strip())
        except ValueError:
            return default

    def flag(self, key: str) -> bool:
        """An on/off value."""
        return self._first.get(key, "").strip().lower() in ("on", "true", "yes", "enabled")


def _closing_quote(line: str, start: int, raw: bool) -> int:
    """Index of the quote that ends a value in `line` (searching from `start`), or -1.

    A quote ends the value when no further quote follows on the line, so raw quotes inside
    unescaped text (snapshot descriptions) survive and `"1288,790,32"@0,0 1` still splits.
    In raw values a backslash escapes nothing (`server,C:\\dir\\"` ends at its quote).
    """
    for match in (QUOTE if raw else QUOTE_OR_ESCAPE).finditer(line, start):
        if match.group() == '"' and '"' not in line[match.end():]:
            return match.start()
    return -1


def parse_machine_readable(text: str) -> MachineReadable:
    """Parse `showvminfo --machinereadable` / `snapshot list --machinereadable` output."""
    result = MachineReadable()
    lines = normalise(text).split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        match = KEY_LINE.fullmatch(line)
        if match is None:
            if line.strip():
                result.unparsed.append(line)
            continue
        qkey = match.group("qkey")
        key = unescape(qkey) if qkey is not None else match.group("key")
        rest = match.group("rest")
        if not rest.startswith('"'):
            result.add(key, rest)
            continue
        raw = RAW_KEY.match(key) is not None
        decode = (lambda text: text) if raw else unescape
        pieces: list[str] = []
        current, start = rest, 1
        while True:
            end = _closing_quote(current, start, raw)
            if end >= 0:
                pieces.append(current[start:end])
                tail = current[end + 1:]
                value = decode("\n".join(pieces)) + tail
                break
            pieces.append(current[start:])
            if index >= len(lines):  # no closing quote at all: keep what there is
                value = decode("\n".join(pieces))
                break
            current, start = lines[index], 0
            index += 1
        result.add(key, value)
    return result


def parse_vm_list(text: str) -> list[tuple[str, str]]:
    """`list vms` / `list runningvms`: [(name, uuid)]; lines of another shape are skipped."""
    machines = []
    for line in normalise(text).split("\n"):
        match = VM_LINE.match(line)
        if match:
            machines.append((match.group("name"), match.group("uuid").lower()))
    return machines


def parse_blocks(text: str) -> list[dict[str, str]]:
    """`Key: value` records (list hostonlyifs, bridgedifs, natnets, hdds, ostypes, ...).

    A record starts again when its first key repeats, so blank lines inside a record (7.0's
    `list hostonlynets`) do not split it. Lines without `key: value` go to the record's
    `_extra` entry, one per line.
    """
    records: list[dict[str, str]] = []
    first_key = ""
    current: dict[str, str] = {}
    for line in normalise(text).split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or line[:1].isspace() or not key.strip():
            if current:
                current["_extra"] = (current.get("_extra", "") + "\n" + line.strip()).strip()
            continue
        key = key.strip()
        if not first_key:
            first_key = key
        if key == first_key and current:
            records.append(current)
            current = {}
        current.setdefault(key, value.strip())
    if current:
        records.append(current)
    return records


def parse_pairs(text: str) -> dict[str, str]:
    """One `Key: value` record (list systemproperties, list hostinfo, showmediuminfo)."""
    pairs: dict[str, str] = {}
    for line in normalise(text).split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and not line[:1].isspace():
            pairs.setdefault(key.strip(), value.strip())
    return pairs


def first_number(text: str, default: int = 0) -> int:
    """The leading integer of `'16384 MByte'`, or `default`."""
    match = re.match(r"\s*(\d+)", text)
    return int(match.group(1)) if match else default


def megabytes_to_bytes(text: str) -> int:
    """`'65536 MBytes'` -> bytes (showmediuminfo/list hdds print whole MiB)."""
    match = SIZE_MB.match(text.strip())
    return int(match.group("number")) * 1024 * 1024 if match else 0


def find_uuid_after(label: str, text: str) -> str:
    """The UUID printed after `label` (e.g. 'Snapshot taken. UUID:'), or ''."""
    position = normalise(text).find(label)
    if position < 0:
        return ""
    match = UUID.search(text, position + len(label))
    return match.group().lower() if match else ""


def find_quoted_after(label: str, text: str) -> str:
    """The text in single quotes after `label` (createvm: `Settings file: '...'`)."""
    for line in normalise(text).split("\n"):
        if line.startswith(label):
            value = line[len(label):].strip()
            return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value
    return ""


@dataclass
class _Node:
    name: str = ""
    uuid: str = ""
    description: str = ""
    children: dict[int, _Node] = field(default_factory=dict)


def parse_snapshot_tree(pairs: MachineReadable) -> tuple[tuple[Snapshot, ...], str]:
    """Snapshots from `SnapshotName-1-2=...` keys: (roots, current snapshot id).

    The suffix is the path from the root (1-based child indexes); names are not unique, so
    snapshots are identified by UUID. Works on `snapshot list` and on showvminfo output.
    """
    nodes: dict[tuple[int, ...], _Node] = {}
    for key, value in pairs.items:
        match = SNAPSHOT_KEY.match(key)
        if not match:
            continue
        path = tuple(int(p) for p in match.group("path").split("-")[1:])
        node = nodes.setdefault(path, _Node())
        what = match.group("what")
        if what == "Name":
            node.name = value
        elif what == "UUID":
            node.uuid = value.lower()
        else:
            node.description = value
    roots: dict[int, _Node] = {}
    for path in sorted(nodes, key=len):
        if not path:
            roots[0] = nodes[path]
            continue
        parent = nodes.get(path[:-1])
        (parent.children if parent else roots)[path[-1]] = nodes[path]

    def build(node: _Node) -> Snapshot:
        children = tuple(build(node.children[i]) for i in sorted(node.children))
        return Snapshot(node.uuid, node.name, node.description, children=children)

    current = pairs.get("CurrentSnapshotUUID").lower()
    return tuple(build(roots[i]) for i in sorted(roots) if roots[i].uuid), current


def parse_guest_properties(text: str) -> dict[str, str]:
    """`guestproperty enumerate`: both the 7.x table (`name = 'value' @ time`) and the older
    `Name: ..., value: ..., timestamp: ..., flags: ...` lines."""
    properties: dict[str, str] = {}
    for line in normalise(text).split("\n"):
        match = GUEST_PROPERTY_OLD.match(line) or GUEST_PROPERTY_NEW.match(line.strip())
        if match:
            properties[match.group("name").strip()] = match.group("value")
    return properties


def guest_addresses(properties: dict[str, str]) -> tuple[str, ...]:
    """IPv4/IPv6 addresses the Guest Additions report, skipping unset and link-local ones."""
    addresses = []
    for name in sorted(properties):
        if re.fullmatch(r"/VirtualBox/GuestInfo/Net/\d+/V[46]/IP", name):
            value = properties[name].strip()
            if value and value != "0.0.0.0" and not value.lower().startswith("fe80:"):  # noqa: S104
                addresses.append(value)
    return tuple(addresses)


class ProgressParser:
    """Turns `0%...10%...` on stderr, fed in arbitrary chunks, into fractions 0..1.

    Several operations print more than one run (import: reading, then copying); a drop of
    the percentage starts a new run, counted in `run`.
    """

    def __init__(self) -> None:
        self.run = 0
        self.last = -1
        self._tail = ""

    def feed(self, chunk: str) -> Iterator[float]:
        """Percentages completed by `chunk`, as fractions (each reported once)."""
        text = self._tail + chunk
        keep = 0
        for match in PERCENT.finditer(text):
            percent = min(int(match.group(1)), 100)
            keep = match.end()
            if percent < self.last:
                self.run += 1
            elif percent == self.last:
                continue
            self.last = percent
            yield percent / 100
        # digits at the very end may be the start of a number split across chunks
        trailing = re.search(r"\d{1,3}$", text[keep:])
        self._tail = trailing.group() if trailing else ""


@dataclass(frozen=True)
class VBoxError:
    """What `VBoxManage: error:` lines say: messages, the COM/VBox code and the context."""

    messages: tuple[str, ...]
    code: str = ""

    @property
    def summary(self) -> str:
        """The first message that is not a Details/Context line."""
        for message in self.messages:
            if not message.startswith(("Details:", "Context:")) and message.strip():
                return message.strip()
        return self.messages[0].strip() if self.messages else ""


def parse_error(stderr: str) -> VBoxError | None:
    """The error VBoxManage reported on stderr, or None when there is no `error:` line."""
    messages = tuple(m.group("text") for m in ERROR_LINE.finditer(normalise(stderr)))
    if not messages:
        return None
    code = ""
    for message in messages:
        match = ERROR_CODE.search(message)
        if match:
            code = match.group("code")
            break
    return VBoxError(messages, code)
