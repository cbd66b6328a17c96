"""The one key vocabulary: names, aliases, codes, and what each backend can send."""

from __future__ import annotations

import pytest

from backends.hyperv import keys as hyperv
from backends.qemu import keys as qemu
from backends.virtualbox import keys as virtualbox
from desktopvm.protocol.keys import (
    COMMON_COMBOS,
    KEYS,
    UnknownKey,
    canonical,
    combo_allowed,
    parse_combo,
    text_to_combos,
)
from desktopvm.rfb.keys import KEYSYMS


@pytest.mark.parametrize(("combo", "names"), [
    ("ctrl-alt-delete", ("ctrl", "alt", "delete")),
    ("Ctrl+Alt+Del", ("ctrl", "alt", "delete")),
    ("super+r", ("win", "r")), ("Meta-L", ("win", "l")), ("cmd-q", ("win", "q")),
    ("PgUp", ("pageup",)), ("print", ("printscreen",)), ("ret", ("enter",)),
    ("alt_r-f1", ("altgr", "f1")), ("grave_accent", ("grave",)),
])
def test_combinations_are_parsed_to_canonical_names(combo: str, names: tuple[str, ...]):
    assert parse_combo(combo) == names


@pytest.mark.parametrize("combo", ["", "ctrl-", "-a", "hyper-x", "ctrl-é", "ctrl--a"])
def test_malformed_combinations_are_refused(combo: str):
    with pytest.raises(UnknownKey):
        parse_combo(combo)


def test_every_alias_names_a_key_and_no_alias_hides_one():
    from desktopvm.protocol.keys import ALIASES

    assert set(ALIASES.values()) <= set(KEYS)
    assert not set(ALIASES) & set(KEYS)
    assert canonical(" ESCAPE ") == "esc"


def test_scan_codes_and_keysyms_are_distinct_per_key():
    qnums = [key.qnum for key in KEYS.values()]
    assert len(set(qnums)) == len(qnums)
    keysyms = [key.keysym for key in KEYS.values()]
    assert len(set(keysyms)) == len(keysyms) and 0 not in keysyms


def test_each_backend_has_a_code_for_every_key_it_says_it_sends():
    assert set(KEYS) == qemu.SENDABLE and set(qemu.QCODES) == set(KEYS)
    assert set(KEYS) == virtualbox.SENDABLE
    assert hyperv.SENDABLE == set(hyperv.VIRTUAL_KEYS) < set(KEYS)
    assert set(KEYSYMS) == set(KEYS)
    assert len(set(qemu.QCODES.values())) == len(KEYS)
    assert len(set(hyperv.VIRTUAL_KEYS.values())) == len(hyperv.VIRTUAL_KEYS)


def test_virtualbox_scancodes_press_in_order_and_release_in_reverse():
    assert virtualbox.combo_to_scancodes("ctrl-alt-delete") == [
        "1d", "38", "e0", "53", "e0", "d3", "b8", "9d"]
    assert virtualbox.combo_to_scancodes("printscreen") == [
        "e0", "2a", "e0", "37", "e0", "b7", "e0", "aa"]
    assert virtualbox.combo_to_scancodes("alt-sysrq") == ["38", "54", "d4", "b8"]


def test_hyper_v_cannot_send_sysrq_and_says_so():
    with pytest.raises(UnknownKey, match="Hyper-V cannot send sysrq"):
        hyperv.combo("alt-sysrq")
    assert hyperv.combo("printscreen") == {"CtrlAltDel": False, "Modifiers": [], "Key": 0x2C}


def test_the_console_offers_only_combos_a_backend_can_send():
    offered = {combo for _, combo in COMMON_COMBOS if combo_allowed(combo, hyperv.SENDABLE)}
    assert "alt-sysrq" not in offered and "ctrl-alt-delete" in offered
    assert all(combo_allowed(combo, qemu.SENDABLE) for _, combo in COMMON_COMBOS)
    assert all(combo_allowed(combo, virtualbox.SENDABLE) for _, combo in COMMON_COMBOS)


def test_text_is_typed_on_a_us_layout():
    assert text_to_combos("aA!\n") == [("a",), ("shift", "a"), ("shift", "1"), ("enter",)]
    with pytest.raises(UnknownKey, match="QEMU types printable ASCII only"):
        qemu.text_qcodes("ü")
    assert qemu.text_qcodes("a~") == [["a"], ["shift", "grave_accent"]]


def test_hyper_v_types_long_lines_in_pieces_it_accepts():
    parts = hyperv.typeable("x" * 1100 + "\ny")
    assert parts == [("text", "x" * 512), ("text", "x" * 512), ("text", "x" * 76),
                     ("key", "enter"), ("text", "y")]
