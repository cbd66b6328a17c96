"""Every Hyper-V cmdlet and parameter the scripts use exists on the oldest host DesktopVM supports.

The names come from Microsoft's cmdlet reference (tests/data/hyperv/cmdlets.json names the page of
each). The scripts are parsed with tree-sitter-powershell; each `Hyper-V\\Cmdlet` command's
`-Parameter` tokens (and the keys of a hashtable splatted into it) are checked.

Full names are required, not the unambiguous prefixes PowerShell would also accept: a prefix that is
unambiguous on Server 2016 can become ambiguous on a later Windows when Microsoft adds a parameter
that shares it (Set-VMProcessor's `-Max` already matches Maximum and MaximumCountPerNumaNode), and
then the script fails on the newer host only. Aliases are refused for the same reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.hyperv import parsers
from backends.hyperv.scripts import INFRASTRUCTURE, operation_names, script_text

TABLE = json.loads((Path(__file__).parents[2] / "data" / "hyperv" / "cmdlets.json")
                   .read_text(encoding="utf-8"))
ALL = [*INFRASTRUCTURE, *operation_names()]

#: A use is guarded when an enclosing `if` asks for the parameter itself or for the OS build.
GUARD = re.compile(r"Parameters\.ContainsKey\(\s*'(?P<param>\w+)'\s*\)|\$build\b|OSVersion",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Use:
    """One `Hyper-V\\Cmdlet -Param` in a script."""

    cmdlet: str
    parameter: str
    line: int
    guards: tuple[str, ...]


def _parser() -> Any:
    tree_sitter = pytest.importorskip("tree_sitter")
    grammar = pytest.importorskip("tree_sitter_powershell")
    return tree_sitter.Parser(tree_sitter.Language(grammar.language()))


def _text(node: Any) -> str:
    return bytes(node.text).decode("ascii")


def _guards(node: Any) -> tuple[str, ...]:
    """The conditions of the `if` statements around a node (only the branch it sits in)."""
    found = []
    child, parent = node, node.parent
    while parent is not None:
        if parent.type in ("if_statement", "elseif_clause"):
            condition = parent.child_by_field_name("condition")
            if condition is None:  # grammar without field names: the first pipeline child
                condition = next((c for c in parent.children if c.type == "pipeline"), None)
            block = next((c for c in parent.children if c.type == "statement_block"), None)
            if condition is not None and block is not None and child.id == block.id:
                found.append(_text(condition))
        child, parent = parent, parent.parent
    return tuple(found)


def _splatted_keys(root: Any, variable: str) -> list[str] | None:
    """Keys of `$variable = @{ ... }` in the same script; None when it is not a literal."""
    keys: list[str] | None = None
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "assignment_expression" or not node.children:
            continue
        if _text(node.children[0]).lower() != "$" + variable.lower():
            continue
        entries = [n for n in _walk(node) if n.type == "key_expression"]
        if not any(n.type == "hash_literal_expression" for n in _walk(node)):
            return None
        keys = [_text(e) for e in entries]
    return keys


def _walk(node: Any) -> list[Any]:
    out, stack = [], [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(current.children)
    return out


def uses(text: str) -> tuple[list[Use], list[str]]:
    """The Hyper-V parameter uses of a script, and the problems found reading them."""
    tree = _parser().parse(text.encode("ascii"))
    found: list[Use] = []
    problems: list[str] = []
    for node in _walk(tree.root_node):
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is None or not _text(name_node).lower().startswith("hyper-v\\"):
            continue
        cmdlet = _text(name_node).split("\\", 1)[1]
        line = node.start_point[0] + 1
        guards = _guards(node)
        elements = next((c for c in node.children if c.type == "command_elements"), None)
        for element in elements.children if elements is not None else ():
            if element.type == "command_parameter":
                found.append(Use(cmdlet, _text(element).lstrip("-").rstrip(":"), line, guards))
            elif re.fullmatch(r"@\w+", _text(element)):  # a splat: @name as a whole argument
                keys = _splatted_keys(tree.root_node, _text(element)[1:])
                if keys is None:
                    problems.append(f"line {line}: {cmdlet} splats {_text(element)}, which is not "
                                    "a hashtable literal here (its keys cannot be checked)")
                else:
                    found.extend(Use(cmdlet, key, line, guards) for key in keys)
    return found, problems


def _build(release: str) -> int:
    return int(TABLE["release_builds"][release])


def check(text: str, table: dict[str, Any] = TABLE) -> list[str]:
    """Unknown cmdlets, unknown or abbreviated parameters, unguarded newer ones."""
    cmdlets = {name.lower(): (name, entry) for name, entry in table["cmdlets"].items()}
    common = {p.lower() for p in table["common_parameters"]["parameters"]}
    oldest = parsers.MIN_BUILD
    found, problems = uses(text)
    for use in found:
        known = cmdlets.get(use.cmdlet.lower())
        if known is None:
            problems.append(f"line {use.line}: Hyper-V\\{use.cmdlet} is not in the cmdlet list")
            continue
        name, entry = known
        params = {p.lower(): p for p in entry["parameters"]}
        wanted = use.parameter.lower()
        if wanted not in params and wanted not in common:
            prefix_of = sorted(p for p in params.values() if p.lower().startswith(wanted))
            hint = f" (write it in full: {', '.join(prefix_of)})" if prefix_of else ""
            problems.append(f"line {use.line}: {name} has no parameter -{use.parameter}{hint}")
            continue
        release = entry.get("parameter_since", {}).get(params.get(wanted, ""), entry.get("since"))
        if release and _build(release) > oldest and not any(
                (m := GUARD.search(g)) and (m.group("param") is None
                                             or m.group("param").lower() == wanted)
                for g in use.guards):
            problems.append(f"line {use.line}: {name} -{use.parameter} needs Windows {release}, "
                            f"newer than the oldest supported host (build {oldest}); guard it")
    return problems


@pytest.mark.parametrize("name", ALL)
def test_every_hyperv_cmdlet_and_parameter_is_documented(name: str):
    assert check(script_text(name)) == [], f"{name}.ps1"


def test_the_scripts_use_hyperv_cmdlets_at_all():
    """The walk finds the calls (a grammar change that hid them would pass everything)."""
    total = [u for n in ALL for u in uses(script_text(n))[0]]
    assert len({u.cmdlet for u in total}) >= 50
    assert Use("Set-VMProcessor", "ExposeVirtualizationExtensions", 7, ()) in \
        uses(script_text("set_processor"))[0]


def test_every_listed_cmdlet_names_its_page():
    for name, entry in TABLE["cmdlets"].items():
        assert entry["page"].startswith("https://learn.microsoft.com/powershell/module/hyper-v/")
        assert name.lower() in entry["page"]
        assert entry["parameters"], name


# --- the checker itself can fail ----------------------------------------------------------

def test_a_misspelt_parameter_fails():
    assert check("Hyper-V\\Set-VMProcessor -VM $vm -ExposeVirtualisationExtensions $true") == [
        "line 1: Set-VMProcessor has no parameter -ExposeVirtualisationExtensions"]


def test_an_abbreviated_parameter_fails_with_the_full_names():
    (problem,) = check("Hyper-V\\Set-VMProcessor -VM $vm -Max 50")
    assert "-Max" in problem and "Maximum, MaximumCountPerNumaNode" in problem


def test_an_unknown_cmdlet_fails():
    assert check("Hyper-V\\Set-VMGpu -VM $vm") == [
        "line 1: Hyper-V\\Set-VMGpu is not in the cmdlet list"]


def test_common_parameters_and_case_are_accepted():
    assert check("Hyper-V\\get-vm -id $g -ErrorAction SilentlyContinue\n"
                 "Hyper-V\\Remove-VMSnapshot -VMSnapshot $c -Confirm:$false") == []


def test_a_splatted_hashtable_is_checked_key_by_key():
    text = "$p = @{ Name = 'a'; Generatoin = 2 }\nHyper-V\\New-VM @p -NoVHD"
    assert check(text) == ["line 2: New-VM has no parameter -Generatoin"]
    assert check("Hyper-V\\New-VM @args") != []  # a splat whose keys cannot be read


def _with_newer_parameter() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(json.dumps(TABLE))
    entry = table["cmdlets"]["Set-VMProcessor"]
    entry["parameter_since"] = {**entry.get("parameter_since", {}), "Perfmon": "2022"}
    return table


def test_a_parameter_newer_than_the_oldest_host_must_be_guarded():
    table = _with_newer_parameter()
    bare = "Hyper-V\\Set-VMProcessor -VM $vm -Perfmon 'pmu'"
    (problem,) = check(bare, table)
    assert "needs Windows 2022" in problem
    by_build = "if ($build -ge 20348) { " + bare + " }"
    by_parameter = ("if ((Get-Command Hyper-V\\Set-VMProcessor).Parameters.ContainsKey('Perfmon')) "
                    "{ " + bare + " }")
    assert check(by_build, table) == []
    assert check(by_parameter, table) == []
    other = ("if ((Get-Command Hyper-V\\Set-VMProcessor).Parameters.ContainsKey('Count')) "
             "{ " + bare + " }")
    assert check(other, table) != [], "a guard for another parameter does not count"
    in_else = "if ($build -ge 20348) { } else { " + bare + " }"
    assert check(in_else, table) != [], "the else branch is not guarded"


def test_parameters_of_the_2016_floor_need_no_guard():
    assert check("Hyper-V\\Set-VMProcessor -VM $vm -ExposeVirtualizationExtensions $true") == []
    assert _build("2016") == parsers.MIN_BUILD
