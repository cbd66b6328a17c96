"""The wizard's first page: which connection — a hypervisor on this computer or a host the user
added — runs the new machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QButtonGroup, QRadioButton, QVBoxLayout, QWizardPage

from desktopvm.connections import is_remote, kind_of
from desktopvm.ui.editors.widgets import caption, format_mib, note, optional_icon
from desktopvm.ui.facts import BackendFacts

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class BackendPage(QWizardPage):
    """One choice per connection: the local backends, then the hosts. Unusable ones are greyed
    with their reason (a host: its connection state) and install hint. The wizard's `default`
    connection is chosen first when it can create."""

    def __init__(self, wizard: NewVmWizard) -> None:
        super().__init__()
        self.vm_wizard = wizard
        self.setTitle(self.tr("Choose where it runs"))
        self.setSubTitle(self.tr("A hypervisor on this computer or on a host you added runs "
                                 "the new machine. Those that cannot say why."))
        self.choices = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        # What can take the machine first, then the rest greyed with why (stable: the
        # registry's order within each).
        for facts in sorted(wizard.facts, key=lambda f: not f.available):
            button = QRadioButton(self._title(facts))
            button.setObjectName(f"backend-{facts.name}")
            button.setIcon(optional_icon(f"backend-{kind_of(facts.name)}"))
            button.setAccessibleName(facts.display_name)
            details = caption(self._details(facts))
            details.setObjectName(f"backend-{facts.name}-details")
            details.setContentsMargins(26, 0, 0, 10)
            if not facts.available:
                button.setEnabled(False)
                button.setToolTip(facts.probe.reason)
                button.setAccessibleDescription(self._details(facts))
            self.choices.addButton(button)
            self.buttons[facts.name] = button
            layout.addWidget(button)
            layout.addWidget(details)
        self.none_available = note(self.tr(
            "No hypervisor can run machines here yet. Install one of those above, or connect "
            "a host, then open this wizard again."))
        self.none_available.setObjectName("no-backend")
        self.none_available.setVisible(not any(f.available for f in wizard.facts))
        layout.addWidget(self.none_available)
        layout.addStretch(1)
        usable = [f.name for f in wizard.facts if f.available]
        first = wizard.default if wizard.default in usable else next(iter(usable), None)
        if first is not None:
            self.buttons[first].setChecked(True)
        self.choices.buttonToggled.connect(self.completeChanged)

    def _title(self, facts: BackendFacts) -> str:
        if is_remote(facts.name):  # its version is long: the details line says it
            return facts.display_name
        version = f" {facts.probe.version}" if facts.probe.version else ""
        return f"{facts.display_name}{version}"

    def _details(self, facts: BackendFacts) -> str:
        if not facts.available:
            lines = [self.tr("Not available: %s") % (facts.probe.reason or self.tr("unknown"))]
            if facts.probe.install_hint:
                lines.append(facts.probe.install_hint)
            return "\n".join(lines)
        host = facts.host_info
        if host is None:
            if is_remote(facts.name):
                version = f" · {facts.probe.version}" if facts.probe.version else ""
                return self.tr("At %s") % facts.host + version
            return self.tr("On %s") % facts.host
        return self.tr("On %s: %d CPUs, %s of memory") % (host.hostname or facts.host,
                                                          host.cpus, format_mib(host.memory_mib))

    def selected(self) -> str | None:
        """The chosen backend's name."""
        return next((name for name, b in self.buttons.items() if b.isChecked()), None)

    def isComplete(self) -> bool:
        return self.selected() is not None

    def validatePage(self) -> bool:
        name = self.selected()
        if name is None:
            return False
        self.vm_wizard.choose_backend(name)
        return True
