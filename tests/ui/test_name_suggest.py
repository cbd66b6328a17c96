"""Duplicate names are refused at the field with a free name offered: wizard, clone dialog."""

from __future__ import annotations

import pytest

from desktopvm.protocol import MachineSummary, PowerState
from desktopvm.ui.dialogs import CloneDialog
from desktopvm.ui.editors import IdentityEditor
from desktopvm.ui.name_suggest import clash_with_suggestion, suggest_name
from desktopvm.ui.wizard import NewVmWizard, PageId
from tests.ui.test_wizard import editor, go_to, next_enabled, page_messages


@pytest.mark.parametrize(("name", "taken", "expected"), [
    ("web", ["web"], "web-2"),
    ("web", ["web", "WEB-2", "ｗｅｂ-3"], "web-4"),  # the naming rule's sameness: case, NFKC
    ("web-2", ["web-2"], "web-3"),
    ("web-9", ["web-9"], "web-10"),
    ("x" * 200, ["x" * 200], "x" * 198 + "-2"),  # stays within the limit
])
def test_suggest_name(name, taken, expected):
    assert suggest_name(name, taken) == expected


def test_no_clash_no_problem():
    assert clash_with_suggestion("db", ["web"]) == []
    [problem] = clash_with_suggestion("Web", ["web"])
    assert problem.field == "name" and problem.message.endswith("Try “Web-2”.")


def summary(name: str) -> MachineSummary:
    return MachineSummary("qemu", "m1", name, PowerState.OFF, os="debian12", cpus=1,
                          memory_mib=512)


def test_the_clone_dialog_offers_a_free_name_and_takes_it(qtbot):
    dialog = CloneDialog(summary("web"), False, taken=["web", "web (copy)"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.ok.isEnabled()
    assert "Try “web (copy)-2”" in dialog.problem.text()
    assert dialog.use_suggestion.isVisible()
    dialog.use_suggestion.click()
    assert dialog.name.text() == "web (copy)-2"
    assert dialog.ok.isEnabled() and not dialog.use_suggestion.isVisible()


def test_the_wizard_refuses_a_name_the_connection_has(qtbot, runner, memory_backend,
                                                      make_facts):
    facts = make_facts(memory_backend)
    asked = []

    def taken(chosen):
        asked.append(chosen.name)
        return ["web"]
    wizard = NewVmWizard([facts], runner, lambda name: memory_backend, taken=taken)
    qtbot.addWidget(wizard)
    wizard.show()
    go_to(wizard, PageId.IDENTITY)
    name = editor(wizard, IdentityEditor).name
    name.setText("WEB")
    assert not next_enabled(wizard)
    assert any("already called web" in m and "Try “WEB-2”" in m for m in page_messages(wizard))
    name.setText("web-2")
    assert next_enabled(wizard)
    assert set(asked) == {facts.name}
