"""Readers for the answer files, as the installers read them (tests only)."""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]
from defusedxml import ElementTree

from desktopvm.model import catalog
from desktopvm.model.catalog import OsEntry

NS = {"u": "urn:schemas-microsoft-com:unattend"}
# debconf-set-selections: a line ending in a backslash continues on the next; then
# /^\s*(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?/ gives owner, question, type and value.
_PRESEED_LINE = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?")


def entry(os_id: str) -> OsEntry:
    """A catalog entry that must exist."""
    found = catalog().get(os_id)
    assert found is not None, os_id
    return found


def read_yaml(text: str) -> dict[str, Any]:
    """PyYAML's safe loader: what cloud-init and Subiquity use."""
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def read_preseed(text: str) -> dict[str, str]:
    lines: list[str] = []
    pending = ""
    for raw in text.split("\n"):
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        lines.append(line)
    answers = {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _PRESEED_LINE.match(line)
        assert match, line
        answers[match[2]] = match[4] or ""
    return answers


def read_kickstart_command(text: str, command: str) -> dict[str, str]:
    """The --option=value pairs of a kickstart command, split as pykickstart splits."""
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == command:
            options = {}
            for word in words[1:]:
                key, _, value = word[2:].partition("=")
                options[key] = value
            return options
    raise AssertionError(f"no {command} line")


def read_kickstart_words(text: str, command: str) -> list[str]:
    """A kickstart command's words, split as pykickstart splits."""
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == command:
            return words
    raise AssertionError(f"no {command} line")


def read_autounattend(text: str) -> dict[str, str]:
    root = ElementTree.fromstring(text.encode("utf-8"))
    account = root.find(".//u:LocalAccount", NS)
    assert account is not None
    value = account.find("u:Password/u:Value", NS).text
    decoded = base64.b64decode(value).decode("utf-16-le")
    assert decoded.endswith("Password")
    return {"name": account.find("u:Name", NS).text or "",
            "display": account.find("u:DisplayName", NS).text or "",
            "password": decoded[:-len("Password")],
            "computer": root.find(".//u:ComputerName", NS).text or "",
            "key": (root.find(".//u:ProductKey/u:Key", NS).text or "")
            if root.find(".//u:ProductKey/u:Key", NS) is not None else ""}
