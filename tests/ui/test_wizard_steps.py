"""The wizard's steps and keys (issue 13): no page for a choice of one, and no access key on a
page that Back, Next, Create or Cancel already use."""

from __future__ import annotations

import re

import pytest
from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QWidget, QWizard

from desktopvm.protocol import ProbeResult
from desktopvm.ui.facts import BackendFacts
from desktopvm.ui.wizard import NewVmWizard, PageId

WIZARD_BUTTONS = (QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
                  QWizard.WizardButton.FinishButton, QWizard.WizardButton.CancelButton)


def access_key(text: str) -> str | None:
    """The letter after a single "&" ("&&" is a literal ampersand), lower case."""
    match = re.search(r"(?<!&)&([^&\s])", text.replace("&&", ""))
    return match.group(1).lower() if match else None


def page_keys(page: QWidget) -> list[tuple[str, str]]:
    """(key, text) of every visible label, button and group box title on a page."""
    found = []
    for widget in page.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, QGroupBox):
            text = widget.title()
        elif isinstance(widget, QLabel | QAbstractButton):
            text = widget.text()
        else:
            continue
        key = access_key(text)
        if key:
            found.append((key, text))
    return found


def other_facts(memory_backend) -> BackendFacts:
    """A second usable connection, so that the wizard asks where the machine runs."""
    return BackendFacts("second", "Second", ProbeResult("second", True),
                        memory_backend.capabilities(), memory_backend.host_info())


def open_(qtbot, runner, facts, backend) -> NewVmWizard:
    wizard = NewVmWizard(facts, runner, lambda name: backend)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def test_one_usable_connection_starts_on_the_name_page(qtbot, runner, memory_backend,
                                                       make_facts):
    unusable = BackendFacts("virtualbox", "VirtualBox", ProbeResult(
        "virtualbox", False, reason="VBoxManage was not found"))
    wizard = open_(qtbot, runner, [unusable, make_facts(memory_backend)], memory_backend)
    assert wizard.currentId() == PageId.IDENTITY
    assert wizard.backend is not None and wizard.backend.name == "memory"
    assert not wizard.button(QWizard.WizardButton.BackButton).isVisible()
    steps = [label.text() for label in wizard.steps.labels]
    assert steps[0] == "1.  Name and system" and len(steps) == 6
    assert wizard.steps.labels[0].font().bold()
    wizard.next()
    assert wizard.steps.labels[1].font().bold() and not wizard.steps.labels[0].font().bold()
    wizard.back()
    assert wizard.currentId() == PageId.IDENTITY  # and no further: it is the first page


def test_two_usable_connections_ask_where_it_runs(qtbot, runner, memory_backend, make_facts):
    wizard = open_(qtbot, runner, [make_facts(memory_backend), other_facts(memory_backend)],
                   memory_backend)
    assert wizard.currentId() == PageId.BACKEND
    assert wizard.steps.labels[0].text() == "1.  Where it runs"
    assert len(wizard.steps.labels) == 7


@pytest.mark.parametrize("usable", [1, 2])
def test_no_access_key_on_any_page_collides_with_the_wizard_buttons(
        qtbot, runner, memory_backend, make_facts, usable):
    facts = [make_facts(memory_backend), other_facts(memory_backend)][:usable]
    wizard = open_(qtbot, runner, facts, memory_backend)
    visited = []
    while True:
        qtbot.wait(10)  # let the page's widgets show
        buttons = {access_key(wizard.button(b).text()): wizard.button(b).text()
                   for b in WIZARD_BUTTONS if wizard.button(b).isVisible()}
        buttons.pop(None, None)
        keys = page_keys(wizard.currentPage())
        if wizard.currentId() == PageId.IDENTITY:  # the walk sees what is there to clash
            assert "n" in buttons and {"a", "g"} <= {key for key, _ in keys}
        clashes = [(key, text, buttons[key]) for key, text in keys if key in buttons]
        assert not clashes, f"{PageId(wizard.currentId()).name}: {clashes}"
        visited.append(wizard.currentId())
        if wizard.currentId() == PageId.SUMMARY:
            break
        before = wizard.currentId()
        wizard.next()
        assert wizard.currentId() != before, f"{PageId(before).name} blocked Next"
    assert visited == list(PageId)[2 - usable:]
    assert access_key(wizard.button(QWizard.WizardButton.FinishButton).text()) == "c"
