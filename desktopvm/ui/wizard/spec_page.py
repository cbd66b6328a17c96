"""`SpecPage`: a wizard page of hardware editors with the validation problems of their fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QVBoxLayout, QWizardPage

from desktopvm.model import Capabilities, Problem, Severity
from desktopvm.protocol import HostInfo
from desktopvm.ui.editors import FieldScope, ProblemsView, SpecEditor
from desktopvm.ui.facts import BackendFacts

if TYPE_CHECKING:
    from desktopvm.ui.wizard.wizard import NewVmWizard


class SpecPage(QWizardPage):
    """Shows editors for part of the wizard's spec; Next is blocked while their fields have errors.

    Editors are built for the chosen backend's capabilities, and built again when the user
    goes back and picks another backend. Every edit goes straight into the wizard's spec.
    """

    def __init__(self, wizard: NewVmWizard, title: str, subtitle: str,
                 extra_scopes: tuple[FieldScope, ...] = ()) -> None:
        super().__init__()
        self.vm_wizard = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.editors: list[SpecEditor] = []
        self._extra_scopes = extra_scopes
        self._built_for: BackendFacts | None = None
        self.body = QVBoxLayout(self)
        self.editor_area = QVBoxLayout()
        self.body.addLayout(self.editor_area)
        # Right under the fields, where the eye is, rather than at the bottom of the page.
        self.problems = ProblemsView(extra_scopes)
        self.body.addWidget(self.problems)
        self.body.addStretch(1)

    # -- for subclasses ----------------------------------------------------------------------
    def make_editors(self, capabilities: Capabilities,
                     host_info: HostInfo | None) -> list[SpecEditor]:
        """The page's editors for one backend, already placed in `editor_area`'s layouts."""
        raise NotImplementedError

    def clear_editor_area(self) -> None:
        """Remove the widgets a previous `make_editors` placed."""
        while self.editor_area.count():
            item = self.editor_area.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()

    def editor_changed(self, editor: SpecEditor) -> None:
        """Fold the edit into the wizard's spec and re-check."""
        self.vm_wizard.spec = editor.apply(self.vm_wizard.spec)
        self.revalidate()

    # -- QWizardPage -------------------------------------------------------------------------
    def initializePage(self) -> None:
        facts = self.vm_wizard.backend
        if facts is not None and facts is not self._built_for:
            assert facts.capabilities is not None
            self.clear_editor_area()
            self.editors = self.make_editors(facts.capabilities, facts.host_info)
            for editor in self.editors:
                editor.changed.connect(lambda editor=editor: self.editor_changed(editor))
            self.problems.scopes = (*(e.scope for e in self.editors), *self._extra_scopes)
            self._built_for = facts
        self.load()

    def load(self) -> None:
        """Show the wizard's current spec in the editors."""
        for editor in self.editors:
            editor.set_spec(self.vm_wizard.spec)
        self.revalidate()

    def cleanupPage(self) -> None:
        """Going back keeps what the user chose here (QWizard would reset fields)."""

    def own_problems(self) -> list[Problem]:
        """What the editors found that the model cannot check."""
        return [p for editor in self.editors for p in editor.own_problems()]

    def revalidate(self) -> None:
        """Show the problems of this page's fields and update Next."""
        self.problems.show_problems([*self.vm_wizard.model_problems(), *self.own_problems()])
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not any(p.severity is Severity.ERROR for p in self.problems.problems)
