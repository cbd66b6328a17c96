"""The wizard's "Unattended install" box: shown only for an OS with answer files, answers
checked in words, Create writes the seed and attaches it, the password kept nowhere else."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QWizard

from desktopvm import seeds
from desktopvm.protocol import HostInfo
from desktopvm.settings import load_settings
from desktopvm.ui.editors import IdentityEditor
from desktopvm.ui.wizard import PageId
from desktopvm.ui.wizard.unattended_box import UnattendedBox
from desktopvm.ui.wizard.wizard import NewVmWizard
from tests.ui.conftest import make_facts, memory_backend, runner  # noqa: F401 - fixtures
from tests.ui.test_wizard import editor, go_to, open_wizard, page_messages  # noqa: F401

SECRET = "wizard-Secret-0815"


def _box(wizard) -> UnattendedBox:
    box = wizard.findChild(UnattendedBox, "unattended-box")
    assert isinstance(box, UnattendedBox)
    return box


def test_shown_only_for_an_os_with_answer_files(open_wizard, qtbot):  # noqa: F811
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    box = _box(wizard)
    assert wizard.spec.os == "ubuntu24.04" and box.isVisible() and not box.isChecked()
    identity = editor(wizard, IdentityEditor)
    identity.os_changed.emit("arch")
    assert wizard.spec.os == "arch" and not box.isVisible()
    identity.os_changed.emit("windows11")
    assert box.isVisible()
    identity.os_changed.emit("debian12")  # the wizard's backend here is the memory backend
    assert box.isVisible() and "Not automatic on memory" in box.note.text()


def test_bad_answers_block_next_in_words(open_wizard, qtbot):  # noqa: F811
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    box = _box(wizard)
    box.setChecked(True)
    assert any("Linux user name" in m for m in page_messages(wizard))
    qtbot.keyClicks(box.user, "ann")
    assert any("password is empty" in m for m in page_messages(wizard))
    qtbot.keyClicks(box.password, SECRET)
    assert not [m for m in page_messages(wizard) if "user" in m or "password" in m]


def test_create_writes_the_seed_and_attaches_it(open_wizard, memory_backend, qtbot,  # noqa: F811
                                                desktopvm_home: Path):
    wizard = open_wizard()
    go_to(wizard, PageId.IDENTITY)
    editor(wizard, IdentityEditor).name.setText("auto")
    box = _box(wizard)
    box.setChecked(True)
    qtbot.keyClicks(box.user, "ann")
    qtbot.keyClicks(box.password, SECRET)
    qtbot.keyClicks(box.hostname, "auto-1")
    go_to(wizard, PageId.SUMMARY)
    with qtbot.waitSignal(wizard.created, timeout=10000) as created:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    spec = memory_backend.get_machine(created.args[1]).spec
    [record] = seeds.records(load_settings(), "memory")
    assert record.machine_id == created.args[1]
    assert [o.iso for _, o in spec.all_optical() if o.iso] == [record.seed]
    assert Path(record.seed).is_file()
    # Only the hash went anywhere: no file under the state root holds the password.
    assert not [p for p in desktopvm_home.rglob("*")
                if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert SECRET not in json.dumps(spec.model_dump())


def test_unchecked_makes_no_seed(open_wizard, memory_backend, qtbot):  # noqa: F811
    wizard = open_wizard()
    go_to(wizard, PageId.SUMMARY)
    with qtbot.waitSignal(wizard.created, timeout=10000):
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert seeds.records(load_settings(), "memory") == []


def test_a_remote_hyperv_host_gets_no_box(qtbot, runner, memory_backend,  # noqa: F811
                                          make_facts):  # noqa: F811
    facts = replace(make_facts(memory_backend), name="hyperv@hv01",
                    host_info=HostInfo(hostname="hv01", cpus=8, memory_mib=16384))
    wizard = NewVmWizard([facts], runner, lambda _name: memory_backend)
    qtbot.addWidget(wizard)
    wizard.show()
    go_to(wizard, PageId.IDENTITY)
    assert wizard.spec.os == "ubuntu24.04"
    assert not _box(wizard).isVisible()  # seeds.refusal: nothing copies a file to that host
    assert not _box(wizard).wanted()
