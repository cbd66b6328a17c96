"""The wizard's name page: the machine's name, its guest OS and the installation ISO."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel

from desktopvm.media import Detection, boot_media, detect_os, inspect_media
from desktopvm.model import Capabilities, Problem, catalog
from desktopvm.model.catalog import BootMedia, default_name
from desktopvm.model.machine import FirmwareSpec
from desktopvm.protocol import CancelToken, HostInfo, Progress
from desktopvm.ui.editors import FieldScope, IdentityEditor, OpticalEditor, SpecEditor
from desktopvm.ui.editors.widgets import caption, format_mib
from desktopvm.ui.host_iso_dialog import HostIsos
from desktopvm.ui.wizard.os_guess import guess_os
from desktopvm.ui.wizard.spec_page import SpecPage
from desktopvm.ui.wizard.unattended_box import FIELD as UNATTENDED_FIELD
from desktopvm.ui.wizard.unattended_box import UnattendedBox

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class IdentityPage(SpecPage):
    """Name, guest OS (choosing one applies its defaults) and the installer ISO.

    Until the user types a name of their own, the name follows the OS; until they pick an
    OS themselves, choosing an ISO picks the OS its file name suggests at once, then the one
    the disc itself names when a background job has read it (desktopvm.media). A disc that
    cannot boot with the chosen firmware switches the firmware to one it boots with.
    """

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__(wizard, self.tr("Name and operating system"), self.tr(
            "Name the machine and choose the system you will install; the next pages start "
            "from what it needs."), extra_scopes=(FieldScope((UNATTENDED_FIELD,)),))
        # Outside the editor area, which is rebuilt per backend: what was typed stays.
        self.unattended = UnattendedBox()
        self.body.insertWidget(1, self.unattended)
        self.unattended.changed.connect(self.revalidate)
        self.identity: IdentityEditor | None = None
        self.optical: OpticalEditor | None = None
        self.os_hint = caption()
        self.name_follows_os = True
        self.os_chosen_by_user = False
        self.disc_text = ""  # what the disc said, shown above the defaults
        self.detection: Detection | None = None
        self._inspected_path = ""  # the ISO last sent to be read
        self._name_guessed = False  # the OS came from the ISO's file name

    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        self.identity = IdentityEditor(capabilities, host_info)
        self.optical = OpticalEditor(capabilities, host_info)
        wizard = self.vm_wizard
        if wizard.backend is not None:
            self.optical.offer_host_isos(HostIsos.of(wizard.backend.name, wizard.runner,
                                                     wizard.open_backend))
        # A new label with each build: the old one goes with the old editor's form.
        self.os_hint = caption()
        self.os_hint.setObjectName("os-hint")
        heading = QLabel(self.tr("Installation disc"))
        font = QFont(heading.font())
        font.setBold(True)
        heading.setFont(font)
        heading.setBuddy(self.optical.iso.edit)
        self.identity.form.addRow("", self.os_hint)
        for widget in (self.identity, heading, self.optical):
            self.editor_area.addWidget(widget)
        self.editor_area.insertSpacing(1, 12)
        self.editor_area.addStretch(1)
        self.identity.os_changed.connect(self._os_picked)
        return [self.identity, self.optical]

    def load(self) -> None:
        super().load()
        self._update_hint(detected=False)

    def editor_changed(self, editor: SpecEditor) -> None:
        before = self.vm_wizard.spec
        super().editor_changed(editor)
        spec = self.vm_wizard.spec
        if editor is self.identity and spec.name != before.name:
            entry = catalog().get(spec.os)
            self.name_follows_os = entry is not None and spec.name == default_name(entry)
        if editor is self.optical and self.optical.path() != self._inspected_path:
            self._inspect(self.optical.path())
        if editor is self.optical and not self.os_chosen_by_user:
            guessed = guess_os(self.optical.path())
            if guessed is not None and guessed != spec.os:
                self._switch_os(guessed)
                self._name_guessed = True
                self._update_hint(detected=True)

    def _inspect(self, path: str) -> None:
        """Read the disc on a worker: a DVD's descriptors are a few sectors, but the file may
        sit on a slow network share, and the GUI thread never waits on a disk."""
        self._inspected_path = path
        self._name_guessed = False
        self.detection = None
        self.vm_wizard.boot_media = {}
        self.disc_text = ""
        if not path:
            self._update_hint(detected=False)
            return

        def work(_progress: Progress, _cancel: CancelToken) -> tuple[Detection, BootMedia] | None:
            if not Path(path).is_file():  # asked here: even that may wait on a share
                return None
            facts = inspect_media(path)
            return detect_os(facts), boot_media(facts)

        job = self.vm_wizard.runner.submit(self.tr("Read %s") % Path(path).name, work,
                                           background=True)
        job.succeeded.connect(lambda result: self._disc_read(path, result))
        job.failed.connect(lambda error: self._disc_unreadable(path, error))

    def _disc_read(self, path: str, result: object) -> None:
        if self.optical is None or path != self.optical.path():
            return  # another ISO was chosen meanwhile
        if result is None:  # not a file (yet): typed half-way, or gone
            self._update_hint(detected=False)
            return
        detection, media = cast("tuple[Detection, BootMedia]", result)
        self.detection = detection
        self.vm_wizard.boot_media = {path: media}
        self.disc_text = self.tr("Detected: %s.") % detection.summary()
        if not self.os_chosen_by_user and detection.os_id not in ("other",
                                                                  self.vm_wizard.spec.os):
            self._switch_os(detection.os_id)
            self._name_guessed = False  # the disc's own word beats its file name
        spec = self.vm_wizard.spec
        kind = media.firmware_for(spec.firmware.kind, self.vm_wizard.capabilities.firmware)
        if kind is not spec.firmware.kind:  # the disc cannot boot with the one chosen
            self.vm_wizard.spec = spec.model_copy(update={"firmware": FirmwareSpec(kind=kind)})
            self.load()
        self._update_hint(detected=self._name_guessed)

    def _disc_unreadable(self, path: str, error: object) -> None:
        if self.optical is None or path != self.optical.path():
            return
        self.vm_wizard.boot_media = {}
        self.disc_text = self.tr("Not read as an install disc: %s.") % error
        self._update_hint(detected=self._name_guessed)

    def _os_picked(self, os_id: str) -> None:
        self.os_chosen_by_user = True
        self._name_guessed = False
        self._switch_os(os_id)
        self._update_hint(detected=False)

    def _switch_os(self, os_id: str) -> None:
        self.vm_wizard.choose_os(os_id, keep_name=not self.name_follows_os)
        self.load()

    def own_problems(self) -> list[Problem]:
        return [*super().own_problems(), *self.unattended.problems()]

    def _update_hint(self, detected: bool) -> None:
        backend = self.vm_wizard.backend
        self.unattended.show_for(self.vm_wizard.spec.os, local=self.vm_wizard.check_paths(),
                                 backend_kind=backend.name if backend is not None else "")
        entry = catalog().get(self.vm_wizard.spec.os)
        if entry is None:
            self.os_hint.setText(self.disc_text)
            return
        text = self.disc_text + " " if self.disc_text else ""
        text += self.tr("Detected from the disc's file name. ") if detected else ""
        cpus = self.tr("1 CPU") if entry.cpus == 1 else self.tr("%d CPUs") % entry.cpus
        text += self.tr("Defaults for %s: %s, %s of memory and a %d GiB disk.") % (
            entry.name, cpus, format_mib(entry.memory_mib), entry.disk_gib)
        self.os_hint.setText(text)
