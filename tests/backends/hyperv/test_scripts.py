"""The shipped .ps1 files: ASCII, param() + Stop, module-qualified cmdlets, parseable, all used."""

from __future__ import annotations

import base64
import re

import pytest

from backends.hyperv import scripts
from backends.hyperv.scripts import INFRASTRUCTURE, operation_names, script_text

ALL = [*INFRASTRUCTURE, *operation_names()]
HYPERV_NOUNS = r"(VM|VHD|VMSnapshot|VMHost|VMSwitch|VMProcessor|VMMemory|VMFirmware|VMBios|" \
               r"VMDvdDrive|VMHardDiskDrive|VMNetworkAdapter|VMComPort|VMScsiController|" \
               r"VMKeyProtector|VMTPM|VMSecurity|VMSavedState)"
HYPERV_CMDLET = re.compile(r"(?<![\w\\-])([A-Z][a-z]+-" + HYPERV_NOUNS + r")\b")


@pytest.mark.parametrize("name", ALL)
def test_each_script_is_ascii_with_param_and_stop(name: str):
    text = script_text(name)
    assert text.isascii(), f"{name}.ps1 must stay ASCII (no code page can garble it)"
    assert re.search(r"^param\(", text, re.MULTILINE), f"{name}.ps1 has no param() block"
    assert "$ErrorActionPreference = 'Stop'" in text
    assert text.splitlines()[0].startswith("# "), f"{name}.ps1 starts with a one-line comment"


@pytest.mark.parametrize("name", operation_names())
def test_operations_bind_strictly(name: str):
    """[CmdletBinding()] makes an unknown argument an error instead of a silent $args entry."""
    assert "[CmdletBinding()]\nparam(" in script_text(name)


@pytest.mark.parametrize("name", ALL)
def test_hyperv_cmdlets_are_module_qualified(name: str):
    code = "\n".join(line for line in script_text(name).splitlines()
                     if not line.lstrip().startswith("#"))
    bare = [m.group(1) for m in HYPERV_CMDLET.finditer(code)
            if not m.group(1).startswith(("ConvertTo-Dvm", "Get-Dvm", "Add-Dvm", "Set-Dvm"))]
    assert bare == [], f"{name}.ps1 calls {bare} without 'Hyper-V\\'"


def test_json_is_written_with_an_explicit_depth():
    for name in ALL:
        for call in re.findall(r"ConvertTo-Json[^\n]*", script_text(name)):
            assert "-Depth" in call, f"{name}.ps1: {call}"


def test_the_bootstrap_fits_any_command_line():
    """cmd.exe stops at 8191 characters; the encoded bootstrap is far below."""
    command = " ".join(["powershell.exe", *scripts.powershell_arguments()])
    assert len(command) < 2000
    decoded = base64.b64decode(scripts.encoded_bootstrap()).decode("utf-16-le")
    assert decoded == script_text("bootstrap")


def test_scripts_parse_as_powershell():
    """A PowerShell grammar (tree-sitter) finds no syntax error in any script.

    Not PowerShell's own parser (there is none here), but it catches unbalanced braces,
    unterminated strings and broken here-strings before a Windows host does.
    """
    tree_sitter = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip("tree_sitter_powershell")
    parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))

    def errors(node: object, found: list[str]) -> list[str]:
        if node.type == "ERROR" or node.is_missing:  # type: ignore[attr-defined]
            found.append(f"{node.start_point}: {node.text[:60]!r}")  # type: ignore[attr-defined]
        for child in node.children:  # type: ignore[attr-defined]
            errors(child, found)
        return found

    for name in ALL:
        tree = parser.parse(script_text(name).encode("ascii"))
        assert errors(tree.root_node, []) == [], f"{name}.ps1 does not parse"


def test_every_operation_the_backend_sends_exists():
    import ast
    from pathlib import Path

    package = Path(scripts.__file__).parent
    sent: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Call"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                sent.add(str(node.args[0].value))
    sent |= {"start_vm", "shutdown_vm", "stop_vm", "restart_vm", "suspend_vm", "resume_vm",
             "save_vm"}  # sent through _power(op, ...)
    assert sent <= set(operation_names()), sent - set(operation_names())
    unused = set(operation_names()) - sent
    assert unused == set(), f"scripts nobody sends: {unused}"


#: Ways PowerShell turns a string into code; only the session's bootstrap and dispatcher may.
CODE_FROM_TEXT = re.compile(
    r"Invoke-Expression|\biex\b|\[ScriptBlock\]::Create|NewScriptBlock|(?<![\w-])-Command\b|"
    r"-EncodedCommand|Start-Process|Invoke-Command|&\s*\$|\.\s*\$", re.IGNORECASE)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("bootstrap", "dispatcher")])
def test_no_script_builds_code_from_values(name: str):
    """Values arrive as data (splatted JSON): no script may run a string as code."""
    code = "\n".join(line for line in script_text(name).splitlines()
                     if not line.lstrip().startswith("#"))
    found = [m.group(0) for m in CODE_FROM_TEXT.finditer(code)]
    assert not found, f"{name}.ps1 runs text as code: {found}"


def test_the_code_from_text_check_can_fail():
    assert CODE_FROM_TEXT.search("Invoke-Expression $Name")
    assert CODE_FROM_TEXT.search("& $command")
    assert not CODE_FROM_TEXT.search("Hyper-V\\Get-VM -Id $Id")


def test_stdin_encoding_is_never_changed_after_the_bootstrap_read():
    """Review H13: .NET Framework's InputEncoding setter drops Console.In's buffered reader."""
    for name in ("dispatcher", "common", *operation_names()):
        code = "\n".join(line for line in script_text(name).splitlines()
                         if not line.lstrip().startswith("#"))
        assert "InputEncoding" not in code, f"{name}.ps1 sets [Console]::InputEncoding"


#: Syntax and parameters PowerShell 7 has and Windows PowerShell 5.1 does not (5.1 is what every
#: Windows ships; the scripts must run there). From the "What's New in PowerShell 7.x" pages.
PS7_ONLY = {
    "null-coalescing ??": re.compile(r"\?\?"),
    "null-conditional ?. / ?[": re.compile(r"\$\{?\w+\}?\?[.\[]"),
    "ternary a ? b : c": re.compile(r"\)\s*\?\s+[^:\n]+\s:\s"),
    "pipeline chain && / ||": re.compile(r"&&|\|\|"),
    "ConvertFrom-Json -AsHashtable / -Depth": re.compile(
        r"ConvertFrom-Json\b[^\n|]*-(AsHashtable|Depth|NoEnumerate)", re.IGNORECASE),
    "ConvertTo-Json -AsArray / -EscapeHandling": re.compile(
        r"ConvertTo-Json\b[^\n|]*-(AsArray|EscapeHandling)", re.IGNORECASE),
    "ForEach-Object -Parallel": re.compile(r"-Parallel\b", re.IGNORECASE),
    "Get-Error / Join-String / Test-Json": re.compile(r"\b(Get-Error|Join-String|Test-Json)\b",
                                                      re.IGNORECASE),
    "$PSStyle": re.compile(r"\$PSStyle\b", re.IGNORECASE),
    "clean block": re.compile(r"^\s*clean\s*\{", re.IGNORECASE | re.MULTILINE),
}  # [type]::new() is 5.0+, so allowed


def _ps7_constructs(text: str) -> list[str]:
    code = "\n".join(re.sub(r"'[^'\n]*'", "''", line) for line in text.splitlines()
                     if not line.lstrip().startswith("#"))
    return [name for name, pattern in PS7_ONLY.items() if pattern.search(code)]


@pytest.mark.parametrize("name", ALL)
def test_no_script_uses_powershell_7_only_syntax(name: str):
    assert _ps7_constructs(script_text(name)) == [], f"{name}.ps1 needs PowerShell 7"


@pytest.mark.parametrize(("snippet", "construct"), [
    ("$a = $b ?? 'x'", "null-coalescing ??"),
    ("$n = $vm?.Name", "null-conditional ?. / ?["),
    ("$x = ($a -gt 1) ? 'big' : 'small'", "ternary a ? b : c"),
    ("Get-VM && Start-VM", "pipeline chain && / ||"),
    ("$o = ConvertFrom-Json $t -AsHashtable", "ConvertFrom-Json -AsHashtable / -Depth"),
    ("ConvertTo-Json $x -Depth 3 -AsArray", "ConvertTo-Json -AsArray / -EscapeHandling"),
    ("1..3 | ForEach-Object -Parallel { $_ }", "ForEach-Object -Parallel"),
    ("Get-Error", "Get-Error / Join-String / Test-Json"),
    ("$PSStyle.Reset", "$PSStyle"),
    ("clean { }", "clean block"),
])
def test_the_powershell_7_check_catches_each_construct(snippet: str, construct: str):
    assert construct in _ps7_constructs(snippet)
    assert _ps7_constructs(f"# {snippet}") == []  # comments do not count
