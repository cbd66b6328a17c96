"""The one naming rule (model/names.py): what a valid machine name is, when two are the same,
and how names are shown."""

from __future__ import annotations

import pytest

from desktopvm.model import (
    MAX_NAME_LENGTH,
    defaults_for,
    errors,
    fit_name,
    name_key,
    name_problems,
    printable,
    printable_lines,
    validate,
)
from tests.model.caps import TEST_CAPS

# Every name `create` refused and `clone` accepted in the review (D6), plus the C1 controls,
# separators and bidi overrides of D9.
INVALID_NAMES = [
    "", " ", "   ", " lead", "trail ", "\tlead", "new\nline", "carriage\rreturn", "tab\there",
    "esc\x1b[2Jname", "bell\x07", "nul\x00", "del\x7f", "nel\x85", "csi\x9b31m",
    "line\u2028sep", "para\u2029sep", "bidi\u202eevil", "isolate\u2066x", "lone\ud800",
    "x" * (MAX_NAME_LENGTH + 1), "y" * 300,
]
VALID_NAMES = ["web", "Bob's \"test\" VM ‘ü’ $(x); `y`", "x" * MAX_NAME_LENGTH, "日本語 VM",
               "a b", "emoji 👩‍💻 (ZWJ is fine)"]


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names_are_refused_by_the_rule_and_by_validate(name: str) -> None:
    assert [p.field for p in name_problems(name)] and \
        {p.field for p in name_problems(name)} == {"name"}
    spec = defaults_for("debian12", TEST_CAPS).model_copy(update={"name": name})
    assert "name" in {p.field for p in errors(validate(spec, TEST_CAPS))}


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names_pass(name: str) -> None:
    assert name_problems(name) == []


def test_the_backends_lower_limit_and_forbidden_characters_apply() -> None:
    short = TEST_CAPS.model_copy(update={"max_name_length": 10})
    assert name_problems("x" * 10, short) == []
    assert "longer than 10" in name_problems("x" * 11, short)[0].message
    assert name_problems("a/b", TEST_CAPS) and name_problems("a/b") == []


def test_messages_never_carry_a_raw_control_character() -> None:
    for name in INVALID_NAMES:
        for problem in name_problems(name, TEST_CAPS, taken=[name + "\x1b"]):
            assert printable(problem.message) == problem.message, problem


def test_names_are_unique_case_and_width_insensitively() -> None:
    assert name_key("Web") == name_key("web") == name_key("ＷＥＢ")
    [clash] = name_problems("WEB", taken=["other", "web"])
    assert "already called web" in clash.message
    assert name_problems("web 2", taken=["web"]) == []
    assert name_problems("Straße", taken=["STRASSE"])  # casefold, not lower


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("plain ‘ü’ 日本") == "plain ‘ü’ 日本"
    assert printable("a\x1b[2Jb\n\r\t\x07\x85\x9b\u2028\u202e") == \
        "a\\x1b[2Jb\\n\\r\\t\\x07\\x85\\x9b\\u2028\\u202e"
    assert printable_lines("one\x1b\ntwo\x9b") == "one\\x1b\ntwo\\x9b"


def test_fit_name_keeps_the_template_within_the_limit() -> None:
    long = "n" * 195
    fitted = fit_name("%1 (copy)", long)
    assert len(fitted) == MAX_NAME_LENGTH and fitted.endswith("n (copy)")
    assert name_problems(fitted) == []
    assert fit_name("%1 (copy)", "web") == "web (copy)"
    assert fit_name("%1 (copy)", "ab" + " " * 198) == "ab (copy)"  # no space before "("
    assert fit_name("Kopie von %1", "x" * 300, 100) == "Kopie von " + "x" * 90
